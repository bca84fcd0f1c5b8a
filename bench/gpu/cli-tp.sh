#!/usr/bin/env bash
# specdec generate/bench with --backend cuda --tp N on a multi-GPU host (issue #6: the CLI exposes TP and EasySpec on
# CUDA), run from the unpacked distribution. Random weights (token-id prompts); checks that TP=2 plain, TP=2 with a
# sequential draft and TP=2 with EasySpec drafting emit the same greedy ids, and times 8B decode at TP=1 and TP=2.
# Usage: OUT=dir bench/gpu/cli-tp.sh        Writes *.json and summary.txt under $OUT.
set -uo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"; cd "$home"
out="${OUT:-/tmp/specdec-cli-tp}"; mkdir -p "$out"
export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:/usr/lib:${LD_LIBRARY_PATH:-}"
export NCCL_NVLS_ENABLE=0
G=bench/gpu
gen() { local name="$1"; shift
  timeout 180 bin/specdec generate --backend cuda --prompt "1 2 3 4 5" --max-tokens 64 --ignore-eos --json "$@" \
    > "$out/$name.out" 2>> "$out/err.txt"; echo "$name rc=$?" >> "$out/err.txt"; tail -1 "$out/$name.out" > "$out/$name.json"; }
gen 1b-tp1 --random-weights $G/llama-3.2-1b/config.json --no-speculation
gen 1b-tp2 --random-weights $G/llama-3.2-1b/config.json --no-speculation --tp 2
gen 8b-tp2-plain --random-weights $G/llama-3-8b/config.json --no-speculation --tp 2
gen 8b-tp2-sequential --random-weights $G/llama-3-8b/config.json --tp 2 --draft random:$G/llama-3.2-1b/config.json
gen 8b-tp2-easyspec --random-weights $G/llama-3-8b/config.json --tp 2 --draft random:$G/llama-3.2-1b/config.json --draft-mode easyspec
gen 8b-tp1-plain --random-weights $G/llama-3-8b/config.json --no-speculation
gen 8b-tp1-card --random-weights $G/llama-3-8b/config.json --draft random:$G/llama-3.2-1b/config.json --draft-mode card
# the bundled pair (real weights; models/ travels with the repository, MODELS points at it): acceptance per mode
M="${MODELS:-$home/models}"
if [ -d "$M/target" ]; then
  bgen() { local name="$1"; shift
    timeout 120 bin/specdec generate --backend cuda --model "$M/target" --prompt "Mr President, I would like to" \
      --max-tokens 96 --ignore-eos --json "$@" > "$out/$name.out" 2>> "$out/err.txt"; tail -1 "$out/$name.out" > "$out/$name.json"; }
  bgen pair-tp1-sequential --draft "$M/draft"
  bgen pair-tp2-sequential --tp 2 --draft "$M/draft"
  bgen pair-tp2-easyspec --tp 2 --draft "$M/draft" --draft-mode easyspec --layer-groups 0-1
  bgen pair-tp1-card --draft "$M/draft" --draft-mode card
fi
for tp in 1 2; do
  timeout 240 bin/specdec bench --backend cuda --tp $tp --random-weights $G/llama-3-8b/config.json --prompt-tokens 128 \
    --gen-tokens 128 --repeats 3 --json "$out/bench-8b-tp$tp.json" >> "$out/err.txt" 2>&1; echo "bench tp$tp rc=$?" >> "$out/err.txt"
done
python3 - "$out" > "$out/summary.txt" <<'PY'
import json, sys, os
d = sys.argv[1]
def load(n):
    try: return json.load(open(os.path.join(d, n + ".json")))
    except Exception as e: return {"error": str(e)}
runs = {n: load(n) for n in ["1b-tp1", "1b-tp2", "8b-tp2-plain", "8b-tp2-sequential", "8b-tp2-easyspec", "8b-tp1-plain", "8b-tp1-card"]}
for n, j in runs.items():
    print(n, {k: j.get(k) for k in ["tokens_per_second", "acceptance_rate", "draft_mode", "tensor_parallel", "easyspec", "error"]})
def ids(n): return runs[n].get("token_ids")
def prefix(a, b): return next((i for i, (x, y) in enumerate(zip(a or [], b or [])) if x != y), min(len(a or []), len(b or [])))
print("1B greedy TP=2 vs TP=1 equal prefix:", prefix(ids("1b-tp1"), ids("1b-tp2")), "of 64")
print("8B TP=2 sequential-draft ids == plain:", ids("8b-tp2-sequential") == ids("8b-tp2-plain") and ids("8b-tp2-plain") is not None)
print("8B TP=1 CARD (draft on GPU 1) ids == plain:", ids("8b-tp1-card") == ids("8b-tp1-plain") and ids("8b-tp1-plain") is not None)
print("8B TP=2 easyspec-draft ids == plain:", ids("8b-tp2-easyspec") == ids("8b-tp2-plain") and ids("8b-tp2-plain") is not None)
pair = {n: load(n) for n in ["pair-tp1-sequential", "pair-tp2-sequential", "pair-tp2-easyspec", "pair-tp1-card"]}
for n, j in pair.items():
    print(n, {k: j.get(k) for k in ["acceptance_rate", "tokens_per_target_forward", "tokens_per_second", "easyspec", "card", "error"]})
if all("token_ids" in j for j in pair.values()):
    print("bundled pair ids equal across modes:", len({tuple(j["token_ids"]) for j in pair.values()}) == 1)
for tp in (1, 2):
    try:
        b = json.load(open(os.path.join(d, f"bench-8b-tp{tp}.json")))
        print(f"bench 8B TP={tp}:", {k: (v.get("tokens_per_second_mean") if isinstance(v, dict) else v) for k, v in b.items() if k in ("pp128", "tg128", "floor")})
    except Exception as e:
        print(f"bench 8B TP={tp}: {e}")
PY
cat "$out/summary.txt"
