#!/usr/bin/env bash
# interleaved decode rounds: split activations (default) vs + split KV vs split all + split KV, 1B and 8B shapes
set -uo pipefail
out="$1"; mkdir -p "$out"
export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:/usr/lib:${LD_LIBRARY_PATH:-}"
base=(runtime/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow
      -Dorg.bytedeco.javacpp.pathsFirst=true -Xmx24g -XX:+UseParallelGC)
variants=("split:" "split-kv:-Dspecdec.cuda.splitKv=true" "split-all-kv:-Dspecdec.cuda.splitActivations=all -Dspecdec.cuda.splitKv=true")
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv > "$out/gpu.txt" 2>&1
for round in 1 2 3; do
  for v in "${variants[@]}"; do
    read -ra flags <<< "${v#*:}"
    for m in llama-3.2-1b llama-3-8b; do
      "${base[@]}" "${flags[@]}" -cp "lib/*" io.specdec.cuda.check.GpuCheck bench "bench/gpu/$m/config.json" "$m" 2>>"$out/log.txt" \
        | grep '^{' | sed "s/^{/{\"run\":\"${v%%:*}-$m-$round\",/" >> "$out/results.jsonl"
    done
  done
done
python3 - "$out" <<'PY'
import json, sys, statistics, collections
rows = [json.loads(l) for l in open(sys.argv[1] + "/results.jsonl") if '"decode-bench"' in l and 'graph' in l]
by = collections.defaultdict(list)
for r in rows:
    v, m = r["run"].rsplit("-", 1)[0].split("-llama")[0], r["label"]
    by[(v, m)].append(r)
with open(sys.argv[1] + "/table.txt", "w") as f:
    for (v, m), rs in sorted(by.items()):
        line = "%-14s %-14s graph ms/token median of rounds %.3f (%s), floor fraction %.3f, prefill ms %.2f" % (v, m,
            statistics.median(r["ms_per_token_median"] for r in rs), " ".join("%.3f" % r["ms_per_token_median"] for r in rs),
            statistics.median(r["fraction_of_floor"] for r in rs), statistics.median(r["prefill_ms"] for r in rs))
        print(line); f.write(line + "\n")
PY
