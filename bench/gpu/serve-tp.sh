#!/usr/bin/env bash
# Serving a tensor-parallel target on GPUs 0..TP-1 (issue #6: `specdec serve --backend cuda --tp N`), from the unpacked
# distribution on a host of at least TP GPUs (builds nothing):
#   1. served decode throughput of the Llama-3-8B shape (random weights) split over TP GPUs at 1, 8, 32 streams, and
#      `specdec bench --tp` for the direct batch-1 ratio (serve-batch.sh with TP set: plain/);
#   2. greedy ids of one request through the server equal `specdec generate --tp` on the same weights (greedy.txt);
#   3. served speculation with a random Llama-3.2-1B-shape draft on GPU 0 at 1 and 8 streams (spec/; random weights
#      accept little: this shows the path runs, not a speedup);
#   4. the same with --draft-mode easyspec: a draft replica on each of the TP GPUs, fuzzy steps over NCCL (spec-easyspec/).
# Usage: OUT=dir TP=2 bench/gpu/serve-tp.sh        (about 5 minutes on 2x H200)
set -uo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"; cd "$home"
out="${OUT:-/tmp/specdec-serve-tp}"; mkdir -p "$out"
tp="${TP:-2}"
export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:/usr/lib:${LD_LIBRARY_PATH:-}"
export NCCL_NVLS_ENABLE=0
C=bench/gpu/llama-3-8b/config.json
D=bench/gpu/llama-3.2-1b/config.json
TP=$tp OUT="$out/plain" CONCURRENCY=1,8,32 bench/gpu/serve-batch.sh 8b > /dev/null 2>&1
prompt="1 2 3 4 5 6 7 8"
port=50171
bin/specdec serve --backend cuda --tp "$tp" --random-weights "$C" --draft none --port $port --metrics-port -1 \
  --cluster-port 25641 --admin-token serve-tp > "$out/greedy-serve.log" 2>&1 &
pid=$!
for _ in $(seq 180); do grep -q '^specdec serving' "$out/greedy-serve.log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.5; done
timeout 60 bin/specdec generate --server 127.0.0.1:$port --prompt "$prompt" --max-tokens 48 --temperature 0 \
  > "$out/greedy-served.txt" 2> "$out/greedy-served.err"
kill $pid; wait $pid 2>/dev/null
timeout 120 bin/specdec generate --backend cuda --tp "$tp" --random-weights "$C" --prompt "$prompt" --max-tokens 48 \
  --temperature 0 --no-speculation > "$out/greedy-direct.txt" 2> "$out/greedy-direct.err"
served="$(tr -s ' \n' ' ' < "$out/greedy-served.txt" | sed 's/^ *//; s/ *$//')"
direct="$(tr -s ' \n' ' ' < "$out/greedy-direct.txt" | sed 's/^ *//; s/ *$//')"
{ echo "served: $served"; echo "direct: $direct"
  if [ -n "$served" ] && [ "$served" = "$direct" ]; then echo "PASS served greedy == generate --tp $tp"; else echo "FAIL served greedy != generate --tp $tp"; fi; } > "$out/greedy.txt"
TP=$tp OUT="$out/spec" CONCURRENCY=1,8 GEN_TOKENS=128 DRAFT="random:$D" SPECULATION=on PORT=50181 CLUSTER_PORT=25651 \
  bench/gpu/serve-batch.sh 8b > /dev/null 2>&1
TP=$tp OUT="$out/spec-easyspec" CONCURRENCY=1,8 GEN_TOKENS=128 DRAFT="random:$D" SPECULATION=on DRAFT_MODE=easyspec \
  PORT=50191 CLUSTER_PORT=25661 bench/gpu/serve-batch.sh 8b > /dev/null 2>&1
cat "$out/plain/summary.txt" "$out/greedy.txt" "$out/spec/summary.txt" "$out/spec-easyspec/summary.txt"
