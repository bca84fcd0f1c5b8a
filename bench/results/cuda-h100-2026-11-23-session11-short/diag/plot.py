#!/usr/bin/env python3
"""Graph decode ms/token of attention_short vs the grouped kernel, with and without programmatic launches
(pdl-bench.jsonl from short-diag.sh). Usage: plot.py DIR  -> DIR/pdl.png + DIR/pdl.json"""
import json, os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

d = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(d, "pdl-bench.jsonl")) if l.strip()]
by = {}
for r in rows:
    if r.get("check") == "decode-bench" and r.get("gemm") == "skinny-kernel+graph":
        by.setdefault(r["label"], {})[r["variant"]] = (r["ms_per_token_median"], r["fraction_of_floor"])
order = ["grouped", "short", "grouped-nopdl", "short-nopdl"]
fig, axes = plt.subplots(1, len(by), figsize=(6 * len(by), 4))
for ax, (label, v) in zip(axes, sorted(by.items())):
    ms = [v[k][0] for k in order]
    bars = ax.bar(range(len(order)), ms, color=["#4477aa", "#ee6677", "#88aacc", "#ffaabb"])
    for b, k in zip(bars, order):
        ax.text(b.get_x() + b.get_width() / 2, b.get_height(), f"{v[k][0]:.3f}\n{v[k][1]:.3f} of floor", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels(["grouped\n(PDL)", "short\n(PDL)", "grouped\nno PDL", "short\nno PDL"])
    ax.set_ylabel("graph decode ms / token")
    ax.set_ylim(0, max(ms) * 1.25)
    ax.set_title(f"{label}, H100: attention_short vs grouped")
fig.tight_layout()
fig.savefig(os.path.join(d, "pdl.png"), dpi=110)
json.dump(by, open(os.path.join(d, "pdl.json"), "w"), indent=1)
