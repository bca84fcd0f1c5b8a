#!/usr/bin/env python3
"""The EasySpec draft stage's ceiling from one GPU (bench/results/cuda-h200-2026-11-24-session15-easyspec-ceiling):
GpuCheck bench-ablate's graph decode of the 1B-shape draft with and without the half of each layer that an EasySpec
group runs in parallel (q/k/v, RoPE, attention, o: ALGORITHMS.md §3) and the half it runs in order (the MLP), then
the draft stage's speedup over sequential drafting if communication cost nothing, for the standard plans
(LayerGroupPlan.standard, one layer alone at each end) of group width 2, 4, 8 and one group of all middle layers.
Usage: /usr/bin/python3 bench/gpu/plot_easyspec_ceiling.py [RESULTS_DIR]   writes summary.json and ceiling.png
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
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "results", "cuda-h200-2026-11-24-session15-easyspec-ceiling")
rows = [json.loads(line) for line in open(os.path.join(root, "results.jsonl")) if line.strip()]
ms = {}
for r in rows:
    if r.get("check") == "decode-bench":
        ms.setdefault(r["gemm"], []).append(r["ms_per_token_median"])
full = statistics.median(ms["graph-without[]"])
no_attention_half = statistics.median(ms["graph-without[QKV+ROPE_APPEND+ATTENTION+O_PROJ]"])
no_mlp_half = statistics.median(ms["graph-without[GATE_UP+SWIGLU+DOWN]"])
layers, edge = 16, 1
attention_half = full - no_attention_half   # a step's 16 attention halves


def saved_halves(width):
    """Attention halves a fuzzy step no longer waits for: each group of g layers runs g at once, so g - 1 are hidden."""
    middle = layers - 2 * edge
    groups = [min(width, middle - s) for s in range(0, middle, width)]
    return sum(g - 1 for g in groups)


ceiling = {}
for name, width in (("width 2 (2 GPUs)", 2), ("width 4 (4 GPUs)", 4), ("width 8 (8 GPUs)", 8), ("one group of 14 (14 GPUs)", 14)):
    hidden = attention_half / layers * saved_halves(width)
    ceiling[name] = {"saved_attention_halves": saved_halves(width), "fuzzy_step_ms": full - hidden, "ceiling": full / (full - hidden)}
summary = {"device": "one H200 (nvidia-h200)", "model": "Llama-3.2-1B shape, random bf16 weights, 128-token prompt, graph decode",
           "step_ms": full, "without_attention_half_ms": no_attention_half, "without_mlp_half_ms": no_mlp_half,
           "attention_half_share": attention_half / full, "mlp_half_share": (full - no_mlp_half) / full,
           "draft_stage_ceiling_without_communication": ceiling,
           "measured_on_2x_h200_session14": {"draft_stage_speedup": [0.94, 1.12], "goal": 1.5}}
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
ax = axes[0]
parts = {"attention half (parallel in a group)": attention_half, "MLP half (in order)": full - no_mlp_half,
         "rest (norms, head, argmax)": full - attention_half - (full - no_mlp_half)}
left = 0
for name, v in parts.items():
    ax.barh([0], [v], left=left, label=f"{name}: {v:.3f} ms ({v / full:.0%})")
    left += v
ax.set_yticks([])
ax.set_xlabel("ms per draft step (H200, bench-ablate)")
ax.set_title("where a 1B-shape draft step goes")
ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25))
ax = axes[1]
names = list(ceiling)
ax.bar(range(len(names)), [ceiling[n]["ceiling"] for n in names], color="tab:green")
ax.axhline(1.5, color="k", ls="--", lw=1, label="issue #6 goal 1.5x")
ax.axhline(1.12, color="tab:red", ls=":", lw=1, label="measured on 2x H200 (session 14): 0.94-1.12x")
ax.set_xticks(range(len(names)))
ax.set_xticklabels(names, fontsize=8)
ax.set_ylabel("draft stage speedup over sequential")
ax.set_title("ceiling with free communication")
ax.set_ylim(0.8, 1.6)
ax.legend(fontsize=8)
save(fig, root, "ceiling.png", summary)
