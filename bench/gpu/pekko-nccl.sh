#!/usr/bin/env bash
# NCCL communicators bootstrapped through Pekko with one JVM per GPU (issue #6, point 1): N processes, each a cluster
# node owning one GPU (CUDA_VISIBLE_DEVICES), the Placement singleton forms the group and distributes rank 0's NCCL
# unique id; each process inits its communicator and checks an all-reduce. Run from the unpacked distribution.
# Usage: OUT=dir [GPUS=N] bench/gpu/pekko-nccl.sh        Writes rank-*.json and log-*.txt under $OUT.
set -uo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-/tmp/specdec-pekko-nccl}"; mkdir -p "$out"
export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:/usr/lib:${LD_LIBRARY_PATH:-}"
export NCCL_NVLS_ENABLE=0
java="$home/runtime/bin/java"; [ -x "$java" ] || java="${JAVA_HOME:-/usr}/bin/java"
gpus="${GPUS:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')}"
base=25701
pids=()
for ((r = 0; r < gpus; r++)); do
  CUDA_VISIBLE_DEVICES=$r timeout 180 "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    --sun-misc-unsafe-memory-access=allow -Dorg.bytedeco.javacpp.pathsFirst=true -cp "$home/lib/*" \
    io.specdec.cli.check.PekkoNcclCheck $((base + r)) 127.0.0.1:$base "$gpus" > "$out/rank-$r.json" 2> "$out/log-$r.txt" &
  pids+=($!)
  [ $r -eq 0 ] && sleep 3   # the seed node first
done
rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done
cat "$out"/rank-*.json
exit $rc
