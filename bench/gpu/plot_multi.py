#!/usr/bin/env python3
"""Plots a bench/gpu/multi.sh results folder (stage-*.json) into multi.png: TP decode vs the HBM floor, speculative
speedups vs vanilla TP decoding per acceptance (standard, EasySpec per calibration policy, analytic bound), and the
EasySpec draft stage vs sequential drafting.   Usage: python3 bench/gpu/plot_multi.py RESULTS_DIR [TITLE]"""
import glob, json, os, sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

d = sys.argv[1]
title = sys.argv[2] if len(sys.argv) > 2 else os.path.basename(os.path.normpath(d))
rows = []
for f in sorted(glob.glob(os.path.join(d, "stage-*.json"))):
    rows += json.load(open(f))

fig, ax = plt.subplots(1, 3, figsize=(16, 4.6))
dec = [r for r in rows if r["check"].startswith("decode-")]
if dec:
    labels = [r["check"].replace("decode-", "") for r in dec]
    ax[0].bar(labels, [r["tok_s"] for r in dec], color="tab:blue", label="measured")
    ax[0].bar(labels, [1000.0 / r["floor_ms"] - r["tok_s"] for r in dec], bottom=[r["tok_s"] for r in dec],
              color="lightgray", label="to the HBM floor")
    for i, r in enumerate(dec):
        ax[0].text(i, r["tok_s"] / 2, f"{r['fraction_of_floor']:.2f}\nof floor", ha="center", color="white")
    ax[0].set_ylabel("tokens/s (batch 1)")
    ax[0].set_title("70B-shape target, tensor-parallel decode")
    ax[0].legend(fontsize=8)

for draft in ("1b", "8b"):
    std = [r for r in rows if r["check"].startswith(f"spec-{draft}-g") and "speedup_vs_vanilla" in r]
    if not std:
        continue
    alphas = sorted({r["alpha"] for r in std})
    best = [max((r for r in std if r["alpha"] == a), key=lambda r: r["speedup_vs_vanilla"]) for a in alphas]
    ax[1].plot(alphas, [r["speedup_vs_vanilla"] for r in best], "o-", label=f"standard spec, {draft} draft (best γ)")
    ax[1].plot(alphas, [r["bound"] for r in best], "k:", alpha=0.5, label=f"analytic bound at that γ ({draft})")
    es = [r for r in rows if r["check"].startswith(f"easyspec-{draft}-lp") and "speedup_vs_vanilla" in r]
    for pol in sorted({r["policy"] for r in es}):
        for lp in sorted({r["check"].split("-")[2] for r in es}):
            pts = sorted((r["alpha"], r["speedup_vs_vanilla"]) for r in es if r["policy"] == pol and r["check"].split("-")[2] == lp)
            if pts:
                ax[1].plot([p[0] for p in pts], [p[1] for p in pts], "s--", ms=4, label=f"EasySpec {lp} {pol.lower()} ({draft})")
ax[1].set_xlabel("injected acceptance α (benchmark-only mode)")
ax[1].set_ylabel("speedup vs vanilla TP decoding")
ax[1].set_title("speculative decoding, 70B-shape target")
ax[1].legend(fontsize=6)

stages = [r for r in rows if r["check"].endswith("-draft-stage")]
if stages:
    labels = [r["check"].replace("easyspec-", "").replace("-draft-stage", "") for r in stages]
    x = range(len(stages))
    ax[2].bar([i - 0.2 for i in x], [r["sequential_ms_per_token"] for r in stages], 0.4, label="sequential (one GPU)")
    ax[2].bar([i + 0.2 for i in x], [r["fuzzy_ms_per_token"] for r in stages], 0.4, label="EasySpec fuzzy step")
    for i, r in enumerate(stages):
        ax[2].text(i, r["sequential_ms_per_token"] * 1.02, f"{r['draft_stage_speedup']:.2f}x", ha="center")
    ax[2].set_xticks(list(x), labels)
    ax[2].set_ylabel("draft ms per token")
    ax[2].set_title("draft stage")
    ax[2].legend(fontsize=8)
fig.suptitle(title)
fig.tight_layout()
fig.savefig(os.path.join(d, "multi.png"), dpi=110)
print(os.path.join(d, "multi.png"))
