#!/usr/bin/env bash
# The multi-GPU checks of issues 6 and 8 on a GPU host, run from the unpacked distribution (builds nothing):
#   bench/gpu/multi.sh [STAGES] [extra MultiGpuCheck flags]      STAGES: a,b,c,d (default) | all | e.g. a,b
# Each stage group runs in its own JVM under `timeout`, so a stage stuck in a collective costs only its own limit:
#   a    NCCL sanity + TP=N vs TP=1 logits (small configs, Llama-3-8B shape)
#   b    Llama-3-70B-shape TP=N decode vs the HBM floor (graphs on and off)
#   c,d  standard speculative decoding (1B-shape draft on GPU 0) and EasySpec over 2 (and 4) GPUs, injected acceptance
#        (GPUS=1 ... d: only the one-GPU draft-stage timing: plain step vs one-replica layer-parallel step)
#   e    c and d with an 8B-shape draft
#   f    CARD: 1B-shape draft growing its tree on GPU 0 while an 8B-shape target (TP=1) verifies on the last GPU,
#        vs standard speculative decoding on the same two GPUs, injected acceptance (needs 2 GPUs)
# GPUS=N (default: all), LIMIT=seconds per stage (default 240), OUT=results folder (default /tmp/specdec-multi).
# Writes stage-*.json, table-*.txt, log.txt, gpu.txt, topo.txt under $OUT; prints the combined table last.
set -uo pipefail
stages="${1:-a,b,c,d}"; shift || true
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-/tmp/specdec-multi}"; mkdir -p "$out"
limit="${LIMIT:-240}"
export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:/usr/lib:${LD_LIBRARY_PATH:-}"
export NCCL_NVLS_ENABLE=0
java="$home/runtime/bin/java"; [ -x "$java" ] || java="${JAVA_HOME:-/usr}/bin/java"
gpus="${GPUS:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')}"
gpu_flag=(); [ "${gpus:-0}" -gt 0 ] && gpu_flag=(--gpus "$gpus")
check=("$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow
       -Dorg.bytedeco.javacpp.pathsFirst=true -Xmx24g -XX:+UseParallelGC -cp "$home/lib/*" io.specdec.cuda.check.MultiGpuCheck
       --out "$out" "${gpu_flag[@]}" --time-limit "$limit" --configs "$home/bench/gpu")
log="$out/log.txt"; : > "$log"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv > "$out/gpu.txt" 2>&1
nvidia-smi topo -m > "$out/topo.txt" 2>&1
run() {   # run GROUP: one JVM for the stages in GROUP (comma-separated), its own timeout
  local group="$1" n; shift
  n=$(echo "$group" | tr ',' '\n' | wc -l)
  echo "=== stages $group: ${check[*]} --stages $group $*" >> "$log"
  local t0=$SECONDS
  timeout $((limit * n + 120)) "${check[@]}" --stages "$group" "$@" >> "$log" 2>&1; local rc=$?
  echo "=== stages $group rc=$rc $((SECONDS - t0))s" >> "$log"
  [ $rc -eq 0 ] || echo "FAILED stages $group: exit $rc (see log.txt)" | tee -a "$log"
}
IFS=',' read -r -a wanted <<< "$( [ "$stages" = all ] && echo a,b,c,d,e,f || echo "$stages")"
has() { printf '%s\n' "${wanted[@]}" | grep -qx "$1"; }
has a && run a "$@"
has b && run b "$@"
cd_group=""; has c && cd_group="c"; has d && cd_group="${cd_group:+$cd_group,}d"
[ -n "$cd_group" ] && run "$cd_group" "$@"
has e && run e "$@"
has f && run f "$@"
python3 - "$out" > "$out/table.txt" <<'PY'
import json, sys, glob, os
rows = []
for f in sorted(glob.glob(os.path.join(sys.argv[1], "stage-*.json"))):
    try: rows += json.load(open(f))
    except Exception as e: print(f"(unreadable {f}: {e})")
for r in rows:
    st, stage, c = r.pop("status"), r.pop("stage"), r.pop("check")
    keep = {k: v for k, v in r.items() if k not in ("device", "names")}
    print(f"{st:4s} {stage:5s} {c:34s} " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in keep.items()))
PY
cat "$out/table.txt"
