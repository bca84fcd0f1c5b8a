#!/usr/bin/env python3
"""Plots `bench/gpu/check.sh mma` results (results.jsonl) into mma.png: verify-pass cost relative to a decode step on
the CUDA-core GEMV vs the tensor-core skinny GEMM, and speculative decoding's speedup vs the analytic bound on each
path (acceptance injection).   Usage: python3 bench/gpu/plot_mma.py RESULTS_DIR [TITLE]"""
import json, os, sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

d = sys.argv[1]
title = sys.argv[2] if len(sys.argv) > 2 else os.path.basename(os.path.normpath(d))
rows = [json.loads(l) for l in open(os.path.join(d, "results.jsonl")) if l.startswith("{")]
fig, ax = plt.subplots(1, 2, figsize=(13, 4.8))
for model in ("llama-3.2-1b", "llama-3-8b"):
    v = sorted([r for r in rows if r.get("check", "").startswith("mma-verify-" + model + "-t")], key=lambda r: r["tokens"])
    ax[0].plot([r["tokens"] for r in v], [r["gemv_vs_decode"] for r in v], "o--", label=f"{model}: CUDA-core GEMV")
    ax[0].plot([r["tokens"] for r in v], [r["mma_vs_decode"] for r in v], "o-", label=f"{model}: tensor-core MMA")
ax[0].axhline(1.0, color="black", lw=0.8)
ax[0].set_xlabel("tokens in the forward (verify of γ+1)")
ax[0].set_ylabel("time / GEMV decode step")
ax[0].set_title("verify-pass cost (the bound assumes 1.0)")
ax[0].legend(fontsize=7)
spec = [r for r in rows if r.get("check") == "spec-bench-injected"]
# check.sh mma: specbench-gemv, then specbench-mma; check.sh mma16: specbench-pass8-R / specbench-pass16-R rounds
# (the median efficiency of the rounds per γ)
groups = {}
for r in spec:
    name = r.get("run", "specbench")
    name = name.rsplit("-", 1)[0] if name[-1].isdigit() and name.count("-") > 1 else name
    groups.setdefault(name.replace("specbench-", "") or "specbench", []).append(r)
for (label, part), style in zip(sorted(groups.items()), ("--", "-", ":", "-.")):
    label = {"gemv": "GEMV", "mma": "MMA", "pass8": "passes of 8 tokens", "pass16": "passes of 16 (default)"}.get(label, label)
    for alpha in (0.6, 0.8, 0.9):
        by = {}
        for r in part:
            if abs(r["alpha"] - alpha) < 1e-6: by.setdefault(r["gamma"], []).append(r["efficiency"])
        gs = sorted(by)
        ax[1].plot(gs, [sorted(by[g])[len(by[g]) // 2] for g in gs], "o" + style, label=f"{label}, α {alpha}")
ax[1].axhline(0.9, color="gray", lw=0.8, ls=":")
ax[1].set_xlabel("γ")
ax[1].set_ylabel("speedup / analytic bound")
ax[1].set_title("8B target + 1B draft, one GPU, injected acceptance")
ax[1].legend(fontsize=7, ncol=2)
fig.suptitle(title)
fig.tight_layout()
fig.savefig(os.path.join(d, "mma.png"), dpi=110)
print("wrote", os.path.join(d, "mma.png"))
