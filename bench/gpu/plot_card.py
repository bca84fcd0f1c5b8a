#!/usr/bin/env python3
"""Plots stage f of bench/gpu/multi.sh (CARD vs standard speculative decoding on the same two GPUs, injected
acceptance) from a results folder into card.png.   Usage: python3 bench/gpu/plot_card.py RESULTS_DIR [TITLE]"""
import json, os, sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

d = sys.argv[1]
title = sys.argv[2] if len(sys.argv) > 2 else os.path.basename(os.path.normpath(d))
rows = json.load(open(os.path.join(d, "stage-f.json")))
alphas = sorted({r["alpha"] for r in rows if "alpha" in r})
std = {a: [r for r in rows if r["check"].startswith("card-standard-") and r["alpha"] == a] for a in alphas}
card = {a: [r for r in rows if r["check"].startswith("card-w") and r["alpha"] == a] for a in alphas}
best = lambda rs: max(rs, key=lambda r: r["speedup_vs_vanilla"]) if rs else None

fig, ax = plt.subplots(1, 2, figsize=(12, 4.6))
x = range(len(alphas))
w = 0.25
bs, bc = [best(std[a]) for a in alphas], [best(card[a]) for a in alphas]
ax[0].bar([i - w for i in x], [r["speedup_vs_vanilla"] for r in bs], w, label="standard (best γ)")
ax[0].bar([i for i in x], [r["speedup_vs_vanilla"] for r in bc], w, label="CARD (best width/γ)")
ax[0].bar([i + w for i in x], [r["bound"] for r in bs], w, color="lightgray", label="standard bound (its γ, c)")
for i, r in enumerate(bc):
    ax[0].text(i, r["speedup_vs_vanilla"] + 0.03, f"{r['speedup_vs_best_standard']:.2f}x\nvs std", ha="center", fontsize=8)
ax[0].axhline(1.0, color="black", lw=0.8)
ax[0].set_xticks(list(x), [f"α = {a}" for a in alphas])
ax[0].set_ylabel("speedup vs vanilla decode (same target GPU)")
ax[0].set_title("8B-shape target on GPU 1, 1B-shape draft on GPU 0")
ax[0].legend(fontsize=8)
for a in alphas:
    rs = sorted([r for r in card[a] if r["width"] == 1], key=lambda r: r["gamma"])
    ax[1].plot([r["gamma"] for r in rs], [r["mean_proposed"] for r in rs], "o-", label=f"proposed per round, α {a}")
    ax[1].plot([r["gamma"] for r in rs], [r["tokens_per_target_forward"] for r in rs], "s--", label=f"tokens per target forward, α {a}")
ax[1].set_xlabel("γ (most tokens asked of the tree)")
ax[1].set_title("CARD width 1: what the tree held when asked")
ax[1].legend(fontsize=7)
fig.suptitle(title + " (acceptance injection, benchmark only)")
fig.tight_layout()
fig.savefig(os.path.join(d, "card.png"), dpi=110)
print("wrote", os.path.join(d, "card.png"))
