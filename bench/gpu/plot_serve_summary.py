#!/usr/bin/env python3
"""Aggregate served tok/s against concurrent streams from serve-batch.sh summary tables (the printed summary.txt),
one line per file: for calls that bring back summaries only.

Usage: plot_serve_summary.py OUT.png TITLE NAME=summary.txt ...   (also writes OUT.json)
"""
import json
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

out, title, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
series = {}
for spec in specs:
    name, path = spec.split("=", 1)
    rows = []
    for line in open(path):
        f = line.split()
        if len(f) >= 7 and f[1].isdigit():
            rows.append({"shape": f[0], "clients": int(f[1]), "agg_tok_s": float(f[2]), "ttft_p50_ms": float(f[5]),
                         "itl_p50_ms": float(f[6])})
    series[name] = rows
json.dump(series, open(out.rsplit(".", 1)[0] + ".json", "w"), indent=1)
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, rows in series.items():
    ax.plot([r["clients"] for r in rows], [r["agg_tok_s"] for r in rows], "o-", label=name)
    for r in rows:
        ax.annotate(f"{r['agg_tok_s']:.0f}", (r["clients"], r["agg_tok_s"]), fontsize=7, textcoords="offset points", xytext=(3, 3))
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("concurrent streams")
ax.set_ylabel("aggregate tok/s")
ax.set_title(title, fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(out, dpi=110)
