# diagnostic: attention_short vs grouped with and without programmatic launches; ncu of both shapes' kernels alone
set -u
R=$1; cd /tmp/d/specdec-*; cp $R/bench/gpu/check.sh $R/bench/gpu/ncu-decode.sh bench/gpu/
java=$PWD/runtime/bin/java
export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:/usr/lib:${LD_LIBRARY_PATH:-}"
jvm=("$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -Dorg.bytedeco.javacpp.pathsFirst=true -Xmx24g)
mkdir -p $OUT/d
for shape in llama-3.2-1b llama-3-8b; do
  for v in "grouped:-Dspecdec.cuda.shortAttentionKeys=0" "short:-Dspecdec.cuda.shortAttentionKeys=512" "grouped-nopdl:-Dspecdec.cuda.shortAttentionKeys=0 -Dspecdec.cuda.noPdl=true" "short-nopdl:-Dspecdec.cuda.shortAttentionKeys=512 -Dspecdec.cuda.noPdl=true"; do
    read -ra f <<< "${v#*:}"
    timeout 200 "${jvm[@]}" "${f[@]}" -XX:+UseParallelGC -cp "$PWD/lib/*" io.specdec.cuda.check.GpuCheck bench "$PWD/bench/gpu/$shape/config.json" $shape 2>>$OUT/d/bench-stderr.txt | grep '^{' | sed "s/^{/{\"variant\":\"${v%%:*}\",/" >> $OUT/d/bench.jsonl
  done
done
[ "${NCU:-1}" = 1 ] && for shape in llama-3.2-1b llama-3-8b; do
  for v in grouped:0 short:512; do
    JAVA=$java timeout 150 bash bench/gpu/ncu-decode.sh /tmp/ncu-$shape-${v%%:*} bench/gpu/$shape/config.json $shape -Dspecdec.cuda.shortAttentionKeys=${v#*:} > /dev/null 2>&1
    cp /tmp/ncu-$shape-${v%%:*}/summary.txt $OUT/d/ncu-$shape-${v%%:*}.txt
  done
done
python3 - <<'PY'
import json,os
for l in open(os.environ['OUT']+'/d/bench.jsonl'):
    d=json.loads(l)
    if d.get('check')=='decode-bench': print(d['label'], d['variant'], d['gemm'], d['ms_per_token_median'], d['fraction_of_floor'])
PY
grep -h "attention\|^kernel" $OUT/d/ncu-*.txt
