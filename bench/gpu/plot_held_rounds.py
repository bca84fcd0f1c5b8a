#!/usr/bin/env python3
"""Whole speculative rounds held on one GPU vs draft ids to the host each step
(bench/results/cuda-h100-2026-11-24-session16-held-rounds, from bench/gpu/batch-chain.sh): left, GpuCheck batchchain's
BatchEngine batches (bundled pair at 1/8/32 requests, "8B+1B": random 8B target + random 1B draft at 1/8; greedy and T 0.8),
tokens/s of the held path over the step path in the same run (batchchain.jsonl, the final code; the summary adds the
earlier runs' ratios, batchchain-run1/run2.jsonl, and the group-rank models in a group of one GPU); right, served through gRPC
(1B shape, draft layers:2, 1/8/32 streams), the mean of two interleaved rounds of each path.
Usage: /usr/bin/python3 bench/gpu/plot_held_rounds.py [RESULTS_DIR]   writes summary.json and held-rounds.png
"""
import glob
import json
import os
import statistics
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

from plot_common import save

here = os.path.dirname(os.path.abspath(__file__))
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "results", "cuda-h100-2026-11-24-session16-held-rounds")
rows = [json.loads(line) for line in open(os.path.join(root, "batchchain.jsonl")) if line.strip()]
checks = [r for r in rows if r["check"] == "batchchain"]
mixed = [r for r in rows if r["check"] == "batchchain-mixed"]
rank_of_one = [{"sampling": r["sampling"], "batch": r["batch"], "identical_requests": r["identical_requests"],
                "held_over_step": round(r["chain_over_step"], 3), "pass": r["pass"]}
               for r in rows if r["check"] == "batchchain-rank-of-one" and "chain_over_step" in r]
earlier = {}   # (model, batch, sampling) -> the earlier runs' ratios
for name in ("batchchain-run1.jsonl", "batchchain-run2.jsonl"):
    path = os.path.join(root, name)
    for line in open(path) if os.path.exists(path) else []:
        r = json.loads(line)
        if r.get("check") == "batchchain":
            earlier.setdefault((r["model"], r["batch"], r["sampling"]), []).append(round(r["chain_over_step"], 3))

engine = []
for r in checks:
    model = "bundled" if r["model"] == "bundled" else "8B+1B"
    engine.append({"model": model, "batch": r["batch"], "sampling": r["sampling"], "identical_requests": r["identical_requests"],
                   "tokens_per_s_step": round(r["tokens_per_s_step"], 1), "tokens_per_s_held": round(r["tokens_per_s_chain"], 1),
                   "held_over_step": round(r["chain_over_step"], 3), "held_over_step_earlier_runs": earlier.get((r["model"], r["batch"], r["sampling"])),
                   "host_copies_per_step": [round(r["host_copies_per_step_step"], 1), round(r["host_copies_per_step_chain"], 1)],
                   "pass": r["pass"]})

served = {}
for path in sorted(glob.glob(os.path.join(root, "served", "served-*", "serve-llama-3.2-1b.json"))):
    name = os.path.basename(os.path.dirname(path))          # served-t0.8-chain-1
    _, t, way, _ = name.split("-")
    d = json.load(open(path))
    for level in d["levels"]:
        served.setdefault((t[1:], level["concurrency"]), {}).setdefault(way, []).append(level["tokens_per_second"])
served_rows = []
for (t, c), ways in sorted(served.items(), key=lambda kv: (float(kv[0][0]), kv[0][1])):
    step, held = statistics.mean(ways["step"]), statistics.mean(ways["chain"])
    served_rows.append({"temperature": float(t), "streams": c, "tokens_per_s_step": [round(x, 1) for x in ways["step"]],
                        "tokens_per_s_held": [round(x, 1) for x in ways["chain"]], "held_over_step": round(held / step, 3)})

fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
labels = [f"{e['model']}\nB{e['batch']} {e['sampling']}" for e in engine]
colors = ["tab:blue" if e["sampling"] == "greedy" else "tab:orange" for e in engine]
a.bar(range(len(engine)), [e["held_over_step"] for e in engine], color=colors)
a.axhline(1.0, color="black", lw=0.8)
a.set_xticks(range(len(engine)), labels, fontsize=7)
a.set_ylabel("tokens/s, held rounds / draft ids to the host")
a.set_title("BatchEngine on the GPU (GpuCheck batchchain), ids identical")
for i, e in enumerate(engine):
    a.text(i, e["held_over_step"] + 0.01, f"{e['held_over_step']:.2f}", ha="center", fontsize=7)
labels = [f"T {s['temperature']:g}\n{s['streams']} streams" for s in served_rows]
colors = ["tab:blue" if s["temperature"] == 0 else "tab:orange" for s in served_rows]
b.bar(range(len(served_rows)), [s["held_over_step"] for s in served_rows], color=colors)
b.axhline(1.0, color="black", lw=0.8)
b.set_xticks(range(len(served_rows)), labels, fontsize=8)
b.set_title("served over gRPC, 1B shape + layers:2 draft (mean of 2 rounds)")
for i, s in enumerate(served_rows):
    b.text(i, s["held_over_step"] + 0.01, f"{s['held_over_step']:.2f}", ha="center", fontsize=8)
for ax in (a, b):
    ax.set_ylim(0, 1.6)
summary = {"machine": "1x NVIDIA H100 80GB HBM3", "engine": engine,
           "mixed_batch": [{"identical_requests": m["identical_requests"], "requests": m["requests"], "pass": m["pass"]} for m in mixed],
           "served": served_rows, "rank_of_one": rank_of_one}
save(fig, root, "held-rounds.png", summary, title="Whole speculative rounds held on one H100 vs draft ids to the host each step")
