#!/usr/bin/env bash
# Served sampled speculation with the draft rows held on the GPU (issue #6 point 2 for served batches), one GPU, from
# the unpacked distribution (builds nothing):
#  1. GpuCheck batchheld: BatchEngine batches of 8 requests at T 0.8, γ 4, bundled pair and the 1B shape (random
#     weights, draft = its first 2 layers): device path vs host path (-Dspecdec.cuda.hostAcceptance=true), ids per
#     request, acceptance, tok/s; a mixed batch (held, greedy, top-k, log-probabilities).
#  2. GpuCheck specsample on the bundled pair (the single-request device path after the refactor).
#  3. serve-batch.sh 1b, draft layers:2, speculation on, T 0.8, 1/8/32 streams: server on the host path, then the device path.
# Usage: OUT=dir [MODELS=dir] [PARTS=checks,served] bench/gpu/batch-held.sh (run the parts in separate calls under a
# 10-minute limit)     Writes batchheld.txt, specsample.txt, served-host/, served-device/.
set -uo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"; cd "$home"
out="${OUT:-/tmp/specdec-batch-held}"; mkdir -p "$out"
export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:/usr/lib:${LD_LIBRARY_PATH:-}"
models="${MODELS:-$home/models}"
java="$home/runtime/bin/java"; [ -x "$java" ] || java="${JAVA_HOME:-/usr}/bin/java"
check=("$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow
       -Dorg.bytedeco.javacpp.pathsFirst=true -Xmx24g -XX:+UseParallelGC -cp "$home/lib/*" io.specdec.cuda.check.GpuCheck)
parts="${PARTS:-checks,served}"
if [[ "$parts" == *checks* ]]; then
timeout 240 "${check[@]}" batchheld "$models" bench/gpu/llama-3.2-1b/config.json > "$out/batchheld.txt" 2> "$out/batchheld.err"
echo "batchheld rc=$?"; grep '"check"' "$out/batchheld.txt"
timeout 120 "${check[@]}" specsample "$models" > "$out/specsample.txt" 2> "$out/specsample.err"
echo "specsample rc=$?"; grep -E 'host-vs-device|lossless' "$out/specsample.txt"
fi
[[ "$parts" == *served* ]] || exit 0
for path in host device; do
  opts=""; [ "$path" = host ] && opts="-Dspecdec.cuda.hostAcceptance=true"
  SPECDEC_JAVA_OPTS="$opts" OUT="$out/served-$path" DRAFT=layers:2 SPECULATION=on TEMPERATURE=0.8 CONCURRENCY=1,8,32 \
    GEN_TOKENS=128 BENCH=0 PORT=$((50151 + ${#path})) timeout 280 bench/gpu/serve-batch.sh 1b > /dev/null 2>&1
  echo "served $path rc=$?"; cat "$out/served-$path/summary.txt" 2>/dev/null | head -8
done
