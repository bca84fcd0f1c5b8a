#!/usr/bin/env bash
# The multi-rank code paths of issue #6 on a host with ONE GPU: ranks share it (-Dspecdec.cuda.sharedGpuRanks=true) and
# meet in host-staged collectives instead of NCCL (which refuses two ranks on one GPU). Every rank's code runs, so ids,
# decisions and the ranks' agreement can be checked; timings mean nothing (no CUDA graphs, every collective through the
# host) and none is reported as a result. Run from the unpacked distribution (builds nothing):
#   1. tp-chain.sh with GPUS=2 SHARE_GPU=1 STAGES=a,g: TP=2 logits vs TP=1 and the collectives themselves (stage a); the
#      held round of a TP=2 target in one JVM, single requests and BatchEngine batches of 8, held vs step path (stage g,
#      token slots broadcast from rank 0); generate --tp 2, held vs host path.
#   2. GpuCheck batchchain (bundled pair only): rows batchchain-two-ranks-one-gpu(-easyspec) are a group over actors'
#      two rank models, each with its own draft replica (sequential, or EasySpec over the two ranks) and its own
#      BatchEngine on its own thread; ids equal across the ranks and between held and step paths.
#   3. pekko-tp.sh RANK_ONLY=1 SHARE_GPU=1: a real Pekko cluster whose two group-member actors hold ranks 0 and 1 on the
#      one GPU, in one JVM (ONE_JVM=1) and in two (procs-*: one JVM per rank, collectives over loopback TCP); plain,
#      sequential draft and EasySpec draft over the two ranks (both: held rounds on every rank).
#   4. served: `specdec serve --tp 2` with the bundled pair (its batches hold whole rounds, rank 0 broadcasting the token
#      slots), 8 greedy requests at once over gRPC, each request's ids against `generate` on one GPU without a draft;
#      with sequential drafts on rank 0's GPU and with EasySpec drafts over both ranks (SERVED_MODES="sequential easyspec").
#      On a 2-GPU host: PARTS=served SERVE_OPTS= SERVED_LABEL="2 GPUs, NCCL" runs it over NCCL with CUDA graphs.
# Usage: OUT=dir [MODELS=dir] [PARTS=tp,batch,pekko,served] bench/gpu/shared-gpu-ranks.sh   (~15 min on an H100; part tp ~10 of them).
# Writes summary.txt.
set -uo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"; cd "$home"
out="${OUT:-/tmp/specdec-shared-gpu-ranks}"; mkdir -p "$out"
export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:/usr/lib:${LD_LIBRARY_PATH:-}"
M="${MODELS:-$home/models}"
java="$home/runtime/bin/java"; [ -x "$java" ] || java="${JAVA_HOME:-/usr}/bin/java"
parts="${PARTS:-tp,batch,pekko,served}"
: > "$out/summary.txt"
if [[ "$parts" == *tp* ]]; then
OUT="$out/tp-chain" MODELS="$M" GPUS=2 SHARE_GPU=1 STAGES=a,g LIMIT=500 timeout 1000 bash bench/gpu/tp-chain.sh > /dev/null
echo "tp-chain rc=$?" >> "$out/summary.txt"; cat "$out/tp-chain/summary.txt" >> "$out/summary.txt"
fi
if [[ "$parts" == *batch* ]]; then
mkdir -p "$out/batchchain"
timeout 200 "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -Dorg.bytedeco.javacpp.pathsFirst=true -Xmx24g -XX:+UseParallelGC -cp "$home/lib/*" io.specdec.cuda.check.GpuCheck batchchain "$M" \
  > "$out/batchchain/batchchain.txt" 2> "$out/batchchain/err.txt"
echo "batchchain rc=$?" >> "$out/summary.txt"
grep '"check"' "$out/batchchain/batchchain.txt" > "$out/batchchain/batchchain.jsonl"
python3 - "$out/batchchain/batchchain.jsonl" >> "$out/summary.txt" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if not r.get("check", "").startswith("batchchain-two-ranks-one-gpu"): continue
    print(f"{'PASS' if r.get('pass') else 'FAIL'} two ranks on one GPU, {r.get('draft', 'sequential')} draft, {r.get('sampling')}: ranks agree held {r.get('ranks_agree_held')}/"
          f"{r.get('batch')}, step {r.get('ranks_agree_step')}/{r.get('batch')}, held = step {r.get('held_equals_step')}/{r.get('batch')},"
          f" accepted rank 0/1 {r.get('accepted_held_rank0_rank1')}, host copies per step held {r.get('host_copies_per_step_held')}"
          f" step {r.get('host_copies_per_step_step')} {r.get('error', '')}")
PY
fi
if [[ "$parts" == *pekko* ]]; then
for v in plain:0:sequential:1 seq:1:sequential:1 easy:1:easyspec:1 procs-plain:0:sequential:0 procs-seq:1:sequential:0 procs-easy:1:easyspec:0; do
  IFS=: read -r name draft mode one <<< "$v"
  OUT="$out/pekko-$name" MODELS="$M" GPUS=2 ONE_JVM=$one RANK_ONLY=1 SHARE_GPU=1 DRAFT=$draft DRAFT_MODE=$mode \
    timeout 250 bash bench/gpu/pekko-tp.sh > "$out/pekko-$name.txt" 2>&1
  echo "pekko $name rc=$?: $(cat "$out/pekko-$name"/log-*.txt | grep -c 'held chain rounds on GPU') ranks logged held rounds" >> "$out/summary.txt"
  sed 's/^/  /' "$out/pekko-$name.txt" >> "$out/summary.txt"
done
fi
if [[ "$parts" == *served* ]]; then
  prompts=("Mr President, I would like to" "Once upon a time" "The committee has" "In the beginning" "We must ask the Commission"
           "Ladies and gentlemen," "The report by Mr" "This Parliament")
  d="$out/direct"; mkdir -p "$d"
  for i in "${!prompts[@]}"; do
    timeout 120 bin/specdec generate --backend cuda --model "$M/target" --no-speculation --prompt "${prompts[$i]}" --max-tokens 64 \
      --temperature 0 --ignore-eos --json > "$d/direct-$i.txt" 2> "$d/direct-$i.err"
  done
  port=50231
  for mode in ${SERVED_MODES:-sequential easyspec}; do
    s="$out/served-$mode"; mkdir -p "$s"; port=$((port + 1))
    SPECDEC_JAVA_OPTS="${SERVE_OPTS--Dspecdec.cuda.sharedGpuRanks=true}" bin/specdec serve --backend cuda --tp 2 --model "$M/target" --draft "$M/draft" \
      --draft-mode "$mode" --port $port --metrics-port -1 --cluster-port $((port - 50231 + 25690)) --admin-token shared > "$s/serve.log" 2>&1 &
    pid=$!
    for _ in $(seq 240); do grep -q '^specdec serving' "$s/serve.log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.5; done
    for i in "${!prompts[@]}"; do
      timeout 120 bin/specdec generate --server 127.0.0.1:$port --prompt "${prompts[$i]}" --max-tokens 64 --temperature 0 --ignore-eos \
        --json > "$s/served-$i.txt" 2> "$s/served-$i.err" &
    done
    wait $(jobs -p | grep -v "^$pid$")
    kill $pid; wait $pid 2>/dev/null
    python3 - "$s" "$d" "${#prompts[@]}" "$(grep -c 'held chain rounds on GPU' "$s/serve.log")" "$mode" >> "$out/summary.txt" <<'PY'
import json, sys, os
s, d, n, held, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def last(path):
    try: return json.loads(open(path).read().strip().splitlines()[-1])
    except Exception as e: return {"error": str(e)}
same, drafted, accepted = 0, 0, 0
for i in range(n):
    a, b = last(os.path.join(s, f"served-{i}.txt")), last(os.path.join(d, f"direct-{i}.txt"))
    same += a.get("token_ids") is not None and a.get("token_ids") == b.get("token_ids")
    drafted += a.get("drafted_tokens") or 0; accepted += a.get("accepted_tokens") or 0
ok = same == n and drafted > 0 and held > 0
print(f"{'PASS' if ok else 'FAIL'} served --tp 2 --draft-mode {mode} ({os.environ.get('SERVED_LABEL', 'two ranks on one GPU')}), {n} greedy requests at once over gRPC: ids equal"
      f" generate on one GPU without a draft {same}/{n}; drafted {drafted}, accepted {accepted}; server log lines saying held rounds ran: {held}")
PY
  done
fi
cat "$out/summary.txt"
