#!/usr/bin/env python3
"""Session 14's RoPE/append-in-attention runs (bench/results/cuda-h100-2026-11-24-session14-ropeattn, check.sh ropeattn):
summary.json and ropeattn.png. Graph decode ms/token of the 1B and 8B shapes per interleaved round with
qkv_rope_append before the grouped attention (separate, -Dspecdec.cuda.ropeInAttention=false) and folded into it
(folded, the default), the fraction of the HBM floor, and the speculative bench (8B + 1B, injected acceptance) after.
Usage: /usr/bin/python3 bench/gpu/plot_ropeattn.py [RESULTS_DIR]
"""
import json
import os
import statistics
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

from plot_common import save

here = os.path.dirname(os.path.abspath(__file__))
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "results", "cuda-h100-2026-11-24-session14-ropeattn")
rows = [json.loads(line) for line in open(os.path.join(root, "results.jsonl")) if line.strip()]
bench = [r for r in rows if r.get("check") == "decode-bench" and r["gemm"] == "skinny-kernel+graph"
         and r["run"].startswith("bench-")]
models = {"1b": "Llama-3.2-1B shape", "8b": "Llama-3-8B shape"}
variants = ["separate", "folded"]
summary = {"device": "H100 (one, lent as nvidia-h100-x1)", "decode": {}}
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for ax, (key, name) in zip(axes, models.items()):
    summary["decode"][key] = {}
    for i, v in enumerate(variants):
        runs = sorted((r for r in bench if r["run"].startswith(f"bench-{key}-{v}-")), key=lambda r: r["run"])
        ms = [r["ms_per_token_median"] for r in runs]
        frac = [r["fraction_of_floor"] for r in runs]
        summary["decode"][key][v] = {"rounds_ms": ms, "median_ms": statistics.median(ms),
                                     "fraction_of_floor": statistics.median(frac)}
        ax.plot(range(1, len(ms) + 1), ms, "o-", label=f"{v}: median {statistics.median(ms):.3f} ms "
                                                         f"= {statistics.median(frac):.3f} of floor")
    ax.set_title(name)
    ax.set_xlabel("interleaved round")
    ax.set_ylabel("graph decode ms/token")
    ax.set_xticks([1, 2, 3])
    ax.legend(fontsize=8)
summary["speedup_folded"] = {k: summary["decode"][k]["separate"]["median_ms"] / summary["decode"][k]["folded"]["median_ms"]
                             for k in models}
spec = [r for r in rows if r.get("check") == "spec-bench-injected"]
summary["spec_alpha_0.8_efficiency"] = {r["gamma"]: r["efficiency"] for r in spec if abs(r["alpha"] - 0.8) < 1e-9}
summary["checks"] = {"pass": sum(1 for r in rows if r.get("pass") is True), "fail": sum(1 for r in rows if r.get("pass") is False)}
save(fig, root, "ropeattn.png", summary,
     "RoPE/append folded into the decode step's attention vs its own kernel (H100, check.sh ropeattn)", dpi=110)
