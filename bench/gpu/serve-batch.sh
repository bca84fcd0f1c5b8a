#!/usr/bin/env bash
# Served decode throughput on one GPU (issue #4: batch 1, 8, 32, 64 through the coordinator's continuous batching), run
# from the unpacked distribution (builds nothing). For the Llama-3.2-1B shape, then the Llama-3-8B shape (random weights
# generated on GPU 0, token-id prompts): starts `specdec serve --backend cuda --random-weights`, runs `specdec loadtest
# --server` through gRPC at 1, 8, 32, 64 concurrent streams (128-token prompts, 256 new tokens each, EOS ignored,
# speculation off: plain decode), stops the server, then times the same shape's batch-1 decode directly with `specdec
# bench` (tg256) for the ratio served batch 1 / direct.
# Usage: OUT=dir bench/gpu/serve-batch.sh [1b|8b|all]     (default all; expected 2-4 minutes on an H100; each shape is
# bounded by 90 s start + 180 s load test + 120 s bench, so under a 10-minute limit per call run 1b and 8b separately)
# Dry run elsewhere (e.g. on a CPU from a build tree): BACKEND=cpu CONFIGS="path/config.json ..." CONCURRENCY=1,8
# GEN_TOKENS=32 bench/gpu/serve-batch.sh   (each config's directory names its shape). PROMPT_TOKENS=N (default 128)
# sets the prompts' length, REQUESTS_PER_CLIENT=N (default 2) each client's requests in a row (the server holds 32,768 KV tokens: keep streams x (N + GEN_TOKENS) below that). IN_PROCESS=1 adds the same levels
# with the node inside the load generator's JVM (no gRPC), as inprocess-SHAPE.json (+ up to 180 s per shape).
# TP=N serves each shape split over GPUs 0..N-1 (and benches it so); DRAFT=none|random:CONFIG|PATH and SPECULATION=off|on
# (defaults none, off) serve and load-test with speculation; DRAFT_MODE=sequential|easyspec (default sequential; easyspec
# with TP >= 2 drafts over the target's GPUs, a replica on each). TEMPERATURE=T (default 0) samples every request at T
# (seeded per request); BENCH=0 skips the direct `bench` comparison. SPECDEC_JAVA_OPTS reaches the server (e.g.
# -Dspecdec.cuda.hostAcceptance=true: sampled drafts verified on the host, for comparison).
# Writes under $OUT: serve-SHAPE.json (+ .png), bench-SHAPE.json, serve-SHAPE.log, err.txt, summary.txt (printed last):
# per level aggregate tok/s, per-stream tok/s (a request's tokens over its wall time), per-stream decode tok/s (after
# the first token, as bench's tg counts), TTFT p50, ITL p50; the ratio compares served batch-1 decode with bench tg256.
set -uo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"; cd "$home"
out="${OUT:-/tmp/specdec-serve-batch}"; mkdir -p "$out"
export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:/usr/lib:${LD_LIBRARY_PATH:-}"
export NCCL_NVLS_ENABLE=0
G=bench/gpu
port="${PORT:-50151}"; cluster_port="${CLUSTER_PORT:-25620}"
which="${1:-all}"
case "$which" in 1b) configs=($G/llama-3.2-1b/config.json) ;; 8b) configs=($G/llama-3-8b/config.json) ;;
  all) configs=($G/llama-3.2-1b/config.json $G/llama-3-8b/config.json) ;;
  *) echo "usage: OUT=dir $0 [1b|8b|all]" >&2; exit 2 ;; esac
[ -n "${CONFIGS:-}" ] && read -r -a configs <<< "$CONFIGS"
backend="${BACKEND:-cuda}"; concurrency="${CONCURRENCY:-1,8,32,64}"; per_client="${REQUESTS_PER_CLIENT:-2}"; gen="${GEN_TOKENS:-256}"; prompt="${PROMPT_TOKENS:-128}"
tp="${TP:-1}"; draft="${DRAFT:-none}"; speculation="${SPECULATION:-off}"; draft_mode="${DRAFT_MODE:-sequential}"
shapes=()
{ command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; } > "$out/gpu.txt" 2>&1
: > "$out/err.txt"
server_pid=""
stop_server() {   # SIGTERM (graceful: health NOT_SERVING, replicas finish, node leaves), then SIGKILL after 30 s
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null
  for _ in $(seq 60); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; server_pid=""
}
trap stop_server EXIT
for config in "${configs[@]}"; do
  shape="$(basename "$(dirname "$config")")"; shapes+=("$shape")
  t0=$SECONDS
  # KV for 64 streams x (128 + 256) tokens; --max-batch 64 = the largest level
  bin/specdec serve --backend "$backend" --tp "$tp" --random-weights "$config" --draft "$draft" --draft-mode "$draft_mode" --kv-tokens 32768 --max-batch 64 \
    --port "$port" --metrics-port -1 --cluster-port "$cluster_port" --admin-token serve-batch > "$out/serve-$shape.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 180); do   # up to 90 s for the JVM, the weights and the gRPC port
    grep -q '^specdec serving' "$out/serve-$shape.log" && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.5
  done
  if ! grep -q '^specdec serving' "$out/serve-$shape.log"; then
    echo "$shape: serve did not start (serve-$shape.log):" >> "$out/err.txt"; tail -5 "$out/serve-$shape.log" >> "$out/err.txt"
    stop_server; continue
  fi
  echo "$shape: serving after $((SECONDS - t0)) s" >> "$out/err.txt"
  timeout 180 bin/specdec loadtest --server "127.0.0.1:$port" --concurrency "$concurrency" --requests-per-client "$per_client" \
    --prompt-tokens "$prompt" --max-tokens "$gen" --speculation "$speculation" --temperature "${TEMPERATURE:-0}" --json "$out/serve-$shape.json" --plot "$out/serve-$shape.png" \
    >> "$out/err.txt" 2>&1
  echo "$shape loadtest rc=$? after $((SECONDS - t0)) s" >> "$out/err.txt"
  stop_server
  [ "${BENCH:-1}" = 0 ] && continue
  timeout 120 bin/specdec bench --backend "$backend" --tp "$tp" --random-weights "$config" --prompt-tokens "$prompt" --gen-tokens "$gen" \
    --repeats 3 --json "$out/bench-$shape.json" >> "$out/err.txt" 2>&1
  echo "$shape bench rc=$? after $((SECONDS - t0)) s" >> "$out/err.txt"
  if [ "${IN_PROCESS:-0}" = 1 ]; then   # the same levels with the node in the load generator's JVM: no gRPC in between
    timeout 180 bin/specdec loadtest --backend "$backend" --random-weights "$config" --kv-tokens 32768 --batching continuous \
      --transport in-process --concurrency "$concurrency" --requests-per-client "$per_client" --prompt-tokens "$prompt" --max-tokens "$gen" \
      --speculation off --json "$out/inprocess-$shape.json" >> "$out/err.txt" 2>&1
    echo "$shape in-process loadtest rc=$? after $((SECONDS - t0)) s" >> "$out/err.txt"
  fi
done
python3 - "$out" "${shapes[@]}" > "$out/summary.txt" <<'PY'
import json, os, sys
d, shapes = sys.argv[1], sys.argv[2:]
def load(name):
    try: return json.load(open(os.path.join(d, name)))
    except Exception as e: return {"error": str(e)}
gpu = open(os.path.join(d, "gpu.txt")).read().split("\n") if os.path.exists(os.path.join(d, "gpu.txt")) else []
print("GPU:", ([l for l in gpu if l.strip()] or ["(nvidia-smi absent)"])[-1])
print(f"{'shape':14s} {'clients':>7s} {'agg tok/s':>10s} {'per-stream':>10s} {'decode/str':>10s} {'TTFT p50 ms':>11s} {'ITL p50 ms':>10s}")
for s in shapes:
    served, direct = load(f"serve-{s}.json"), load(f"bench-{s}.json")
    levels = served.get("levels", [])
    if not levels: print(f"{s:14s} served: {served.get('error', 'no levels (see err.txt)')}")
    for r in levels:
        print(f"{s:14s} {r['concurrency']:7d} {r['tokens_per_second']:10.1f} {r['stream_tokens_per_second_mean']:10.1f}"
              f" {r['stream_decode_tokens_per_second_mean']:10.1f} {r['ttft_p50_ms']:11.1f} {r['itl_p50_ms']:10.2f}")
    for r in load(f"inprocess-{s}.json").get("levels", []):
        print(f"{s:14s} {r['concurrency']:7d} {r['tokens_per_second']:10.1f} {r['stream_tokens_per_second_mean']:10.1f}"
              f" {r['stream_decode_tokens_per_second_mean']:10.1f} {r['ttft_p50_ms']:11.1f} {r['itl_p50_ms']:10.2f}  in-process")
    tgs = [v for k, v in direct.items() if k.startswith("tg") and isinstance(v, dict)]
    tg = tgs[0] if tgs else None
    b1 = next((r for r in levels if r["concurrency"] == 1), None)
    if tg:
        line = f"{s:14s} direct batch 1 (bench tg): {tg['tokens_per_second_mean']:.1f} tok/s"
        if b1: line += (f"; served batch 1 decode / direct = "
                        f"{b1['stream_decode_tokens_per_second_mean'] / tg['tokens_per_second_mean']:.3f}")
        print(line)
    else:
        print(f"{s:14s} direct: {direct.get('error', 'no tg result (see err.txt)')}")
PY
cat "$out/summary.txt"
