#!/usr/bin/env bash
# A tensor-parallel group over Pekko serving one request, one JVM per GPU (issue #6, point 1): N processes, each a
# cluster node owning one GPU (CUDA_VISIBLE_DEVICES) whose group member holds its rank of the bundled target (NCCL
# communicator from the id the Placement singleton hands out). The group serves as ONE replica; rank 0 (the seed
# node, also the frontend) sends one greedy request and compares the ids with TP=1 on one GPU and with the CPU.
# Run from the unpacked distribution (models/ next to bin/, or MODELS=dir holding target/).
# ONE_JVM=1: one process holds the whole group instead (all GPUs of the host in one JVM, one actor and thread per GPU).
# DRAFT=1: every rank also holds a replica of the bundled draft (models/draft) and the request is speculated with it;
# DRAFT_MODE=easyspec drafts layer-parallel over the group's GPUs (EasySpec, the ranks being the draft devices).
# RANK_ONLY=1: the devices hold only their ranks, no whole target of their own (specdec.placement.rank-only: how a
# target larger than one GPU is served); the check fails if any device opened the whole target.
# SHARE_GPU=1 (a test mode for a host with fewer GPUs than ranks): every process sees GPU 0 and the ranks meet in
# host-staged collectives over loopback TCP instead of NCCL (-Dspecdec.cuda.sharedGpuRanks=true): right ids, no timings.
# Usage: OUT=dir [GPUS=2] [TOKENS=64] [ONE_JVM=1] [RANK_ONLY=1] [SHARE_GPU=1] [DRAFT=1 [DRAFT_MODE=sequential|easyspec]] bench/gpu/pekko-tp.sh
# Writes rank-*.json, log-*.txt, pekko-tp.json under $OUT.
# Dry run without a GPU (CPU ranks, one JVM): ONE_JVM=1 JAVA_OPTS=-Dspecdec.check.cpu=true bench/gpu/pekko-tp.sh
set -uo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-/tmp/specdec-pekko-tp}"; mkdir -p "$out"
export LD_LIBRARY_PATH="/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu:/usr/lib:${LD_LIBRARY_PATH:-}"
export NCCL_NVLS_ENABLE=0
java="$home/runtime/bin/java"; [ -x "$java" ] || java="${JAVA_HOME:-/usr}/bin/java"
gpus="${GPUS:-2}"
model="${MODELS:-$home/models}/target"
tokens="${TOKENS:-64}"
base=25801
draft_opts=""
if [ "${DRAFT:-0}" = 1 ]; then
  draft_opts="-Dspecdec.check.draft=${MODELS:-$home/models}/draft -Dspecdec.check.draftMode=${DRAFT_MODE:-sequential}"
fi
[ "${RANK_ONLY:-0}" = 1 ] && draft_opts="$draft_opts -Dspecdec.check.rankOnly=true"
[ "${SHARE_GPU:-0}" = 1 ] && draft_opts="$draft_opts -Dspecdec.cuda.sharedGpuRanks=true"
pids=()
procs=$gpus; devices=1
if [ "${ONE_JVM:-0}" = 1 ]; then procs=1; devices=$gpus; fi
for ((r = 0; r < procs; r++)); do
  visible=$r; [ "$procs" = 1 ] && visible=$(seq -s, 0 $((gpus - 1)))
  [ "${SHARE_GPU:-0}" = 1 ] && visible=0
  CUDA_VISIBLE_DEVICES=$visible timeout 240 "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
    --sun-misc-unsafe-memory-access=allow -Dorg.bytedeco.javacpp.pathsFirst=true $draft_opts ${JAVA_OPTS:-} -cp "${SPECDEC_CP:-$home/lib/*}" \
    io.specdec.cli.check.PekkoTensorParallelCheck $((base + r)) 127.0.0.1:$base "$gpus" "$model" "$tokens" \
    "Once upon a time" "$devices" \
    > "$out/rank-$r.json" 2> "$out/log-$r.txt" &
  pids+=($!)
  [ $r -eq 0 ] && sleep 3   # the seed node first
done
rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done
python3 - "$out" "$procs" "$gpus" <<'PY'
import json, sys, os
out, procs, gpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ranks = []
for r in range(procs):
    try:
        ranks.append(json.loads(open(os.path.join(out, f"rank-{r}.json")).read().strip().splitlines()[-1]))
    except Exception as e:
        ranks.append({"process": r, "pass": False, "error": f"no JSON: {e}"})
lead = ranks[0]
rows = [("group formed, serving as one replica", bool(lead.get("group")) and lead.get("steps", 0) > 0),
        ("request finished", lead.get("finished", False)),
        (f"TP={gpus} ids == TP=1 ids on {lead.get('tp1', '?')} ({lead.get('tokens', 0)} tokens)", lead.get("equal_tp1", False)),
        ("TP ids == CPU ids (informative)", lead.get("equal_cpu", False))]
if lead.get("draft_mode", "off") != "off":
    rows.append((f"ranks drafted with their {lead['draft_mode']} draft replicas: {lead.get('drafter')}, "
                 f"accepted {lead.get('accepted')}/{lead.get('drafted')} in {lead.get('rounds')} rounds", lead.get("draft_ok", False)))
if lead.get("rank_only"):
    rows.append(("rank-only: no device opened the whole target, only its rank", not lead.get("own_model", True)))
rows += [(f"process {r} ran the group's steps ({x.get('steps', 0)})", x.get("pass", False)) for r, x in enumerate(ranks[1:], 1)]
ok = all(p for name, p in rows if "informative" not in name)
for name, p in rows: print(f"{'PASS' if p else 'FAIL'}  {name}")
print("PASS" if ok else "FAIL", "pekko-tp")
json.dump({"check": "pekko-tp", "draft_mode": lead.get("draft_mode", "off"), "rank_only": lead.get("rank_only", False), "gpus": gpus, "processes": procs, "pass": ok, "rows": [{"check": n, "pass": p} for n, p in rows], "ranks": ranks},
          open(os.path.join(out, "pekko-tp.json"), "w"), indent=1)
sys.exit(0 if ok else 1)
PY
exit $(( rc || $? ))
