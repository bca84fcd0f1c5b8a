#!/usr/bin/env python3
"""Plots bench/gpu/serve-batch.sh results (serve-SHAPE.json from `specdec loadtest --json`) into serve-batch.png:
aggregate and per-stream decode tokens/s against concurrent streams, one line per model shape (the GPU bundle's
runtime cannot draw: it has no java.desktop).   Usage: python3 bench/gpu/plot_serve.py RESULTS_DIR [TITLE]"""
import glob, json, os, sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

d = sys.argv[1]
title = sys.argv[2] if len(sys.argv) > 2 else os.path.basename(os.path.normpath(d))
fig, ax = plt.subplots(1, 2, figsize=(12, 4.6))
for f in sorted(glob.glob(os.path.join(d, "serve-*.json"))):
    r = json.load(open(f))
    lv = sorted(r["levels"], key=lambda x: x["concurrency"])
    c = [x["concurrency"] for x in lv]
    ax[0].plot(c, [x["tokens_per_second"] for x in lv], "o-", label=r["model"])
    for x in lv:
        ax[0].annotate(f"{x['tokens_per_second']:.0f}", (x["concurrency"], x["tokens_per_second"]), fontsize=7,
                       textcoords="offset points", xytext=(0, 5), ha="center")
    ax[1].plot(c, [x["stream_decode_tokens_per_second_mean"] for x in lv], "o-", label=r["model"])
for a in ax:
    a.set_xscale("log", base=2)
    a.set_xlabel("concurrent streams (continuous batching through the coordinator, gRPC)")
    a.legend(fontsize=8)
ax[0].set_ylabel("aggregate generated tokens / s")
ax[1].set_ylabel("decode tokens / s per stream")
ax[0].set_yscale("log")
fig.suptitle(title)
fig.tight_layout()
fig.savefig(os.path.join(d, "serve-batch.png"), dpi=110)
print("wrote", os.path.join(d, "serve-batch.png"))
