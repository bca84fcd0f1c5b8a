#!/usr/bin/env python3
"""tp-chain.sh results: host copies per round and tokens/s, device-resident chain vs host draft ids (TP=2 target).
Usage: plot_tp_chain.py RESULT_DIR   (reads stage-g.json, writes tp-chain.png)"""
import json, os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

d = sys.argv[1]
rows = [r for r in json.load(open(os.path.join(d, "stage-g.json"))) if r.get("check") in ("tp-chain-greedy", "tp-chain-sampled")]
labels = [f"{r['model'].split('+')[0].replace('-random', '')}\n{r['check'].split('-')[-1]}" for r in rows]
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
x = range(len(rows))
for ax, key, title in ((a, "host_copies_per_round", "host<->device copies per round"), (b, "tokens_per_s", "tokens/s")):
    ax.bar([i - 0.2 for i in x], [r[key + "_device"] for r in rows], 0.4, label="device chain + NCCL broadcast")
    ax.bar([i + 0.2 for i in x], [r[key + "_host"] for r in rows], 0.4, label="host draft ids")
    ax.set_xticks(list(x)); ax.set_xticklabels(labels, fontsize=8); ax.set_title(title); ax.legend(fontsize=8)
    if key == "tokens_per_s": ax.set_yscale("log")
fig.suptitle("TP=2 target, draft on rank 0's GPU, 2x H200 (ids equal on both paths)")
fig.tight_layout()
fig.savefig(os.path.join(d, "tp-chain.png"), dpi=110)
