#!/usr/bin/env bash
# CPU benchmark matrix of issue #2: random-weight stories110M shape (F32, Q8_0) x (1, 2 threads), pp128 + tg256,
# and stories260K with and without speculation. Writes bench/results/cpu-*.json and bench/results/cpu.png.
# Usage: bench/run-cpu.sh [repeats]   (run on an otherwise idle machine; build first: ./mvnw -q -DskipTests package)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-5}
out=bench/results
mkdir -p "$out"
for type in F32 Q8_0; do
  for threads in 1 2; do
    bin/specdec bench --random stories110m --type "$type" --threads "$threads" --prompt-tokens 128 --gen-tokens 256 \
      --repeats "$repeats" --json "$out/cpu-110m-${type,,}-t$threads.json"
  done
done
shared=../shared/data/llama2c
if [ -f "$shared/stories260K.bin" ]; then
  for threads in 1 2; do
    bin/specdec bench --model "$shared/stories260K.bin" --tokenizer "$shared/tok512.bin" --threads "$threads" \
      --draft layers:4 --gamma 4 --prompt-tokens 128 --gen-tokens 256 --repeats "$repeats" \
      --json "$out/cpu-stories260k-t$threads.json"
  done
fi
bin/specdec plot "$out"/cpu-110m-*.json --out "$out/cpu.png" --title "specdec CPU bench, random stories110M ($(nproc) cores)"
[ -f "$out/cpu-stories260k-t1.json" ] && bin/specdec plot "$out"/cpu-stories260k-*.json --out "$out/cpu-stories260k.png" --title "stories260K, draft = its first 4 layers"
