#!/usr/bin/env python3
"""pekko-tp.sh runs side by side: pass/fail and the draft's acceptance (accepted/drafted) per variant.

Usage: plot_pekko_tp.py OUT.png NAME=pekko-tp.json ...
"""
import json
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

out, specs = sys.argv[1], sys.argv[2:]
names, rates, labels, colors = [], [], [], []
for spec in specs:
    name, path = spec.split("=", 1)
    d = json.load(open(path))
    lead = d["ranks"][0]
    names.append(name)
    rates.append(lead.get("accepted", 0) / max(1, lead.get("drafted", 1)))
    labels.append(f"{lead.get('accepted')}/{lead.get('drafted')} in {lead.get('rounds')} rounds, "
                  f"{d['processes']} JVM(s){', rank-only' if d.get('rank_only') else ''}: {'PASS' if d['pass'] else 'FAIL'}")
    colors.append("tab:green" if d["pass"] else "tab:red")
fig, ax = plt.subplots(figsize=(8, 3.5))
ax.barh(names, rates, color=colors)
for i, text in enumerate(labels):
    ax.text(rates[i] + 0.01, i, text, va="center", fontsize=8)
ax.set_xlim(0, 1)
ax.set_xlabel("draft tokens accepted / drafted (bundled pair, greedy, 64 tokens)")
ax.set_title("TP=2 group over Pekko on 2x H200 (bench/gpu/pekko-tp.sh)", fontsize=10)
fig.tight_layout()
fig.savefig(out, dpi=110)
