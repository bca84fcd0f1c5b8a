#!/usr/bin/env bash
# Graph decode of the 1B and/or 8B shapes (128-token prompt, 256 new tokens) with kernel builds and JVM flags side by
# side, in interleaved rounds (the host drifts by a few % between minutes). Runs on a GPU host from the unpacked
# distribution:
#   OUT=DIR ROUNDS=3 SHAPES="1b 8b" bench/gpu/fatbin-rounds.sh NAME=FATBIN[,-Dflag=value...] ...
# FATBIN: a fatbin file (-Dspecdec.cuda.fatbin; .xz is unpacked first) or "packaged"; build variants with nvcc -D...
# (native/build.sh's command for one arch). MMA=1 first runs GpuCheck mma (verify = decode bit for bit) with each
# build. Writes OUT/results.jsonl (GpuCheck's lines, tagged) and prints one line per run plus medians per variant.
set -uo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-/tmp/fatbin-rounds}"; mkdir -p "$out"
java="$home/runtime/bin/java"; [ -x "$java" ] || java="${JAVA_HOME:-/usr}/bin/java"
export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:/usr/lib:${LD_LIBRARY_PATH:-}"
results="$out/results.jsonl"; : > "$results"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv > "$out/gpu.txt" 2>&1
names=(); flags=()
for spec in "$@"; do
  name="${spec%%=*}" rest="${spec#*=}"
  IFS=, read -ra parts <<< "$rest"
  fatbin="${parts[0]}" f=()
  if [ "$fatbin" != packaged ]; then
    case "$fatbin" in *.xz) xz -dkc "$fatbin" > "$out/$name.fatbin"; fatbin="$out/$name.fatbin";; esac
    f+=("-Dspecdec.cuda.fatbin=$fatbin")
  fi
  f+=("${parts[@]:1}")
  names+=("$name"); flags+=("${f[*]}")
done
gpucheck() {   # gpucheck TAG FLAGS ARGS...: GpuCheck's JSON lines tagged with the run into results
  local tag="$1" fl="$2"; shift 2
  read -ra fa <<< "$fl"
  "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
      -Dorg.bytedeco.javacpp.pathsFirst=true -Xmx24g -XX:+UseParallelGC "${fa[@]}" -cp "$home/lib/*" \
      io.specdec.cuda.check.GpuCheck "$@" 2>> "$out/stderr.txt" | grep '^{' | sed "s/^{/{\"run\":\"$tag\",/" >> "$results"
}
config() { [ "$1" = 1b ] && echo "$home/bench/gpu/llama-3.2-1b/config.json llama-3.2-1b" || echo "$home/bench/gpu/llama-3-8b/config.json llama-3-8b"; }
each() {   # each MODE SUFFIX: GpuCheck MODE for every variant and shape, tagged MODE-SHAPE-VARIANT[SUFFIX]
  for i in "${!names[@]}"; do
    for shape in ${SHAPES:-1b 8b}; do
      read -r cfg label <<< "$(config "$shape")"
      gpucheck "$1-$shape-${names[$i]}$2" "${flags[$i]}" "$1" "$cfg" "$label"
    done
  done
}
if [ "${MMA:-0}" = 1 ]; then
  each mma ""
  grep '"verify-equals-decode' "$results" | python3 -c '
import sys, json
for l in sys.stdin:
    d = json.loads(l); print(d["run"], d["check"], "max_abs_diff", d["max_abs_diff"], "PASS" if d["pass"] else "FAIL")'
fi
for round in $(seq 1 "${ROUNDS:-3}"); do each bench "-$round"; done
python3 - "$results" <<'EOF'
import json, sys, statistics, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("check") == "decode-bench" and d.get("gemm") == "skinny-kernel+graph":
        tag = d["run"].rsplit("-", 1)[0]
        runs[tag].append((d["ms_per_token_median"], d["fraction_of_floor"]))
        print(d["run"], d["ms_per_token_median"], "ms", d["fraction_of_floor"], "of floor")
for tag, v in runs.items():
    print("median", tag, statistics.median(x[0] for x in v), "ms", statistics.median(x[1] for x in v), "of floor", len(v), "rounds")
EOF
