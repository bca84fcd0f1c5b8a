#!/usr/bin/env python3
"""The four follow-up runs of short-diag.sh (launch, smem, carveout, carveout-small; two interleaved rounds each):
graph decode ms/token per variant and shape. Usage: plot.py DIR -> DIR/diag2.png + DIR/diag2.json"""
import json, os, statistics, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

d = sys.argv[1]
runs = ["launch", "smem", "carveout", "carveout-small"]
summary = {}
fig, axes = plt.subplots(2, len(runs), figsize=(5 * len(runs), 7))
for col, run in enumerate(runs):
    by = {}
    for l in open(os.path.join(d, f"{run}-bench.jsonl")):
        r = json.loads(l)
        if r.get("check") == "decode-bench" and r.get("gemm") == "skinny-kernel+graph":
            by.setdefault(r["label"], {}).setdefault(r["variant"], []).append(r["ms_per_token_median"])
    summary[run] = {label: {v: statistics.mean(ms) for v, ms in vs.items()} for label, vs in by.items()}
    for row, label in enumerate(sorted(by)):
        ax = axes[row][col]
        names = list(by[label])
        means = [statistics.mean(by[label][n]) for n in names]
        ax.bar(range(len(names)), means, color="#4477aa")
        for i, n in enumerate(names):
            ax.plot([i] * len(by[label][n]), by[label][n], "k.", markersize=4)
            ax.text(i, means[i], f"{means[i]:.3f}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=7)
        ax.set_ylim(0, max(means) * 1.2)
        ax.set_title(f"{run}: {label}", fontsize=9)
        ax.set_ylabel("graph decode ms/token", fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(d, "diag2.png"), dpi=100)
json.dump(summary, open(os.path.join(d, "diag2.json"), "w"), indent=1)
