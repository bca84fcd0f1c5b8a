#!/usr/bin/env bash
# Whole speculative rounds kept on one GPU (issue #6 point 2: a draft beside its target on one GPU, in `generate` and
# in served batches), run from the unpacked distribution (builds nothing). The draft ids never visit the host: each
# draft step's id feeds the next step on the device (chain_take_ids), the verify's token slots are filled there, the
# acceptance (greedy compare or the fused kernel) runs there, and the host reads one decision per request and round.
# The comparison path, -Dspecdec.cuda.hostDraftTokens=true, brings every draft step's ids to the host (as before).
#   checks:   GpuCheck batchchain: BatchEngine batches of 1/8/32 (bundled pair) and 1/8 (random 8B target + random 1B
#             draft) requests, greedy and T 0.8: ids per request on both paths, acceptance, tok/s, host copies per step;
#             a mixed batch (greedy, T 0.8, top-k, log-probabilities, penalties).
#   generate: specdec generate --backend cuda (one GPU), bundled pair (200 tokens) and random 8B + 1B (128 tokens),
#             greedy and T 0.8: ids of both paths, "draft_tokens" (device / host), tok/s.
#   served:   serve-batch.sh 1b with draft layers:2 and speculation on, greedy and T 0.8, 1/8/32 streams, 4 requests of
#             384 tokens per stream, both paths, two interleaved rounds.
# Usage: OUT=dir [MODELS=dir] [PARTS=checks,generate,served] bench/gpu/batch-chain.sh   (checks+generate ~4 min,
# served ~6 min on an H100: run them in separate calls under a 10-minute limit)
set -uo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"; cd "$home"
out="${OUT:-/tmp/specdec-batch-chain}"; mkdir -p "$out"
export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:/usr/lib:${LD_LIBRARY_PATH:-}"
G=bench/gpu; M="${MODELS:-$home/models}"; parts="${PARTS:-checks,generate,served}"
java="$home/runtime/bin/java"; [ -x "$java" ] || java="${JAVA_HOME:-/usr}/bin/java"
check=("$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow
       -Dorg.bytedeco.javacpp.pathsFirst=true -Xmx24g -XX:+UseParallelGC -cp "$home/lib/*" io.specdec.cuda.check.GpuCheck)
: >> "$out/err.txt"
if [[ "$parts" == *checks* ]]; then
  timeout 330 "${check[@]}" batchchain "$M" $G/llama-3-8b/config.json $G/llama-3.2-1b/config.json > "$out/batchchain.txt" 2>> "$out/err.txt"
  echo "batchchain rc=$?" | tee -a "$out/err.txt"; grep '"check"' "$out/batchchain.txt"
fi
if [[ "$parts" == *generate* ]]; then
  gen() { local name="$1" opts="$2"; shift 2
    SPECDEC_JAVA_OPTS="$opts" timeout 150 bin/specdec generate --backend cuda --ignore-eos --json "$@" \
      > "$out/$name.out" 2>> "$out/err.txt"; echo "$name rc=$?" >> "$out/err.txt"; tail -1 "$out/$name.out" > "$out/$name.json"; }
  for t in 0 0.8; do
    for path in device host; do
      opts=""; [ $path = host ] && opts="-Dspecdec.cuda.hostDraftTokens=true"
      for rep in 1 2 3; do   # the bundled pair's rounds are ~0.3 ms: three runs show the spread
        gen "pair-t$t-$path$([ $rep = 1 ] || echo "-r$rep")" "$opts" --model "$M/target" --draft "$M/draft" \
          --prompt "Mr President, I would like to" --temperature $t --seed 1 --max-tokens 200
      done
      gen "8b-t$t-$path" "$opts" --random-weights $G/llama-3-8b/config.json --draft random:$G/llama-3.2-1b/config.json \
        --prompt "128000 791 4062" --temperature $t --seed 1 --max-tokens 128
    done
  done
  python3 - "$out" <<'PY' | tee "$out/generate-summary.txt"
import json, sys, os
d = sys.argv[1]
def load(n):
    try: return json.load(open(os.path.join(d, n + ".json")))
    except Exception as e: return {"error": str(e)}
ok = True
for model in ("pair", "8b"):
    for t in ("0", "0.8"):
        a, b = load(f"{model}-t{t}-device"), load(f"{model}-t{t}-host")
        same = a.get("token_ids") is not None and a.get("token_ids") == b.get("token_ids")
        good = same and a.get("draft_tokens") == "device" and b.get("draft_tokens") == "host"
        ok &= good
        print(f"{'PASS' if good else 'FAIL'} generate {model} T {t}: ids equal {same}, draft_tokens {a.get('draft_tokens')}/"
              f"{b.get('draft_tokens')}, acceptance {a.get('acceptance')}/{b.get('acceptance')} rate {a.get('acceptance_rate')}/"
              f"{b.get('acceptance_rate')}, tok/s {a.get('tokens_per_second')}/{b.get('tokens_per_second')}"
              + (f" error {a.get('error') or b.get('error')}" if a.get('error') or b.get('error') else ""))
for t in ("0", "0.8"):
    for path in ("device", "host"):
        runs = [load(f"pair-t{t}-{path}" + ("" if r == 1 else f"-r{r}")).get("tokens_per_second") for r in (1, 2, 3)]
        print(f"INFO generate pair T {t} {path}: tok/s of 3 runs {runs}")
print("PASS generate" if ok else "FAIL generate")
PY
fi
if [[ "$parts" == *served* ]]; then
  # two interleaved rounds of both paths: a level's run is a few seconds, so the spread shows
  for t in 0 0.8; do
    for round in 1 2; do
      for path in step chain; do
        opts=""; [ $path = step ] && opts="-Dspecdec.cuda.hostDraftTokens=true"
        SPECDEC_JAVA_OPTS="$opts" OUT="$out/served-t$t-$path-$round" DRAFT=layers:2 SPECULATION=on TEMPERATURE=$t CONCURRENCY=1,8,32 \
          GEN_TOKENS="${GEN_TOKENS:-384}" REQUESTS_PER_CLIENT="${REQUESTS_PER_CLIENT:-4}" BENCH=0 PORT=$((50151 + ${#path} + round)) \
          timeout 290 bench/gpu/serve-batch.sh 1b > /dev/null 2>> "$out/err.txt"
        echo "served T $t $path round $round rc=$?, server log lines saying held chain rounds ran: $(grep -c 'held chain rounds on GPU' \
          "$out/served-t$t-$path-$round"/serve-*.log 2>/dev/null | awk -F: '{s += $NF} END {print s + 0}')"
        sed -n 3,5p "$out/served-t$t-$path-$round/summary.txt" 2>/dev/null
      done
    done
  done
fi
