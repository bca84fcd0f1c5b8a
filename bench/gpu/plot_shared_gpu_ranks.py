#!/usr/bin/env python3
"""shared-gpu-ranks.sh results: two ranks on one GPU (host-staged collectives). Correctness is the result: the figure
shows, per check, the requests whose ids agree (held vs step path, and rank 0 vs rank 1) and the host<->device copies
per engine step or round of both paths (the transport's own copies are not counted). No timing is plotted: the
transport makes them meaningless.
EasySpec rows (session 18: held rounds of a one-JVM layer-parallel draft) are drawn too; where an EasySpec step path
samples and decides on the host, sampled ids may part by float rounding (INFO rows, orange), and the replica audit
(every replica's ids of every held round equal replica 0's) is the check.
Usage: plot_shared_gpu_ranks.py RESULT_DIR [TP_CHAIN_DIR [BATCHCHAIN_DIR]]   (reads TP_CHAIN_DIR (default tp-chain)/stage-g.json,
[its stage-a.json], BATCHCHAIN_DIR (default [easyspec/]batchchain)/batchchain.jsonl; writes shared-gpu-ranks.png and summary.json)"""
import json, os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_common import save

d = sys.argv[1]
tp_dir = sys.argv[2] if len(sys.argv) > 2 else "tp-chain"
stage_g = json.load(open(os.path.join(d, tp_dir, "stage-g.json")))
a_file = os.path.join(d, tp_dir, "stage-a.json")
stage_a = json.load(open(a_file)) if os.path.exists(a_file) else []
# the later run (easyspec/, EasySpec rows included) when there is one
later = os.path.join(d, sys.argv[3], "batchchain.jsonl") if len(sys.argv) > 3 else os.path.join(d, "easyspec", "batchchain", "batchchain.jsonl")
first = os.path.join(d, "batchchain", "batchchain.jsonl")
chain = [json.loads(l) for l in open(later if os.path.exists(later) else first)] if os.path.exists(later) or os.path.exists(first) else []
# TITLE, NOTE (env): for runs over NCCL on several GPUs (session 19, 2x H200), which have no batchchain part
title = os.environ.get("TITLE", "Two ranks on one H100 (host-staged collectives stand in for NCCL): the multi-rank held-round paths")
note = os.environ.get("NOTE", "two ranks on one H100, host-staged collectives: timings not reported")
short = lambda m: "bundled" if m == "bundled" else "8B+1B"
rows = []   # (label, agreeing, total, copies held, copies step, status)
audits = []
ownership = None   # session 19: every buffer use checked against the GPU its rank stands for
for r in stage_g:
    c = r.get("check", "")
    kind = " EasySpec" if "easyspec" in c else ""
    if c in ("tp-chain-greedy", "tp-chain-sampled", "tp-chain-easyspec-greedy", "tp-chain-easyspec-sampled"):   # one run per seed
        n = r.get("seeds", 1)
        rows.append((f"TP=2 generate{kind}\n{short(r['model'])} {c.split('-')[-1]}", n if r.get("ids_equal") else 0, n,
                     r["host_copies_per_round_device"], r["host_copies_per_round_host"], r.get("status")))
    elif c.startswith("tp-batch-"):
        rows.append((f"TP=2 batch 8{kind}\n{short(r['model'])} {c.split('-')[-1]}", r["identical_requests"], r["batch"],
                     r["host_copies_per_step_held"], r["host_copies_per_step_step"], r.get("status")))
    elif c == "tp-easyspec-replica-ids":
        audits.append(r)
    elif c == "gpu-ownership-audit":
        ownership = r
for r in chain:
    if r.get("check", "").startswith("batchchain-two-ranks-one-gpu") and "batch" in r:
        agree = min(r["ranks_agree_held"], r["ranks_agree_step"], r["held_equals_step"])
        kind = "EasySpec" if r["check"].endswith("easyspec") else "seq."
        rows.append((f"2 rank models, {kind}\nbatch 8 {r['sampling']}", agree, r["batch"], r["host_copies_per_step_held"],
                     r["host_copies_per_step_step"], "PASS" if r.get("pass") else "FAIL"))
fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
x = list(range(len(rows)))
a.barh(x, [r[1] / r[2] for r in rows], color=["tab:orange" if r[5] == "INFO" else "tab:green" for r in rows])
for i, r in enumerate(rows):
    a.text(0.02, i, f"{r[1]}/{r[2]} " + ("runs" if r[0].startswith("TP=2 generate") else "requests")
           + (" (step path draws and decides on the host)" if r[5] == "INFO" else ""), va="center",
           color="black" if r[5] == "INFO" or not r[1] else "white", fontsize=8)
a.set_yticks(x); a.set_yticklabels([r[0].replace("\n", " ") for r in rows], fontsize=8); a.invert_yaxis()
a.set_xlim(0, 1); a.set_title("ids identical (held = step; rank 0 = rank 1)", fontsize=10)
notes = [f"{short(r['model'])}: replicas disagree in {r['rounds_where_replicas_disagree']} of "
         f"{r['held_rounds_audited']} held rounds" for r in audits]
if ownership and ownership['status'] == "INFO":
    notes.append("ownership audit off (each rank on its own GPU)")
elif ownership:
    notes.append(f"ownership audit {ownership['status']}: {ownership.get('buffer_uses_checked', 0):,} buffer uses checked"
                 + (", a planted cross-rank use refused" if ownership['status'] == "PASS" else ""))
if notes:
    a.set_xlabel(";\n".join(notes) if ownership else "; ".join(notes), fontsize=8)
b.barh([i - 0.2 for i in x], [r[3] for r in rows], 0.4, label="held rounds")
b.barh([i + 0.2 for i in x], [r[4] for r in rows], 0.4, label="draft ids to the host each step")
b.legend(fontsize=8, loc="lower right")
b.set_title("host<->device copies per round (generate) or engine step (batches)", fontsize=10)
tp = {r["check"]: r for r in stage_a if r.get("check", "").startswith("tp2-vs-tp1")}
summary = {"checks": [{"check": r[0].replace("\n", " "), "identical": r[1], "of": r[2], "copies_held": r[3], "copies_step": r[4],
                       "status": r[5]} for r in rows],
           "replica_id_audit": [{"model": r["model"], "held_rounds": r["held_rounds_audited"],
                                 "disagreeing": r["rounds_where_replicas_disagree"], "status": r["status"]} for r in audits],
           "gpu_ownership_audit": {k: ownership.get(k) for k in ("status", "buffer_uses_checked", "planted_cross_rank_use")} if ownership else None,
           "tp2_vs_tp1_max_rel_l2": {k: v.get("max_rel_l2") for k, v in tp.items()},
           "tp2_vs_tp1_argmax_agree": {k: f"{v.get('argmax_agree')}/{v.get('rows')}" for k, v in tp.items()},
           "note": note}
save(fig, d, os.environ.get("PNG", "shared-gpu-ranks.png"), summary, title)
