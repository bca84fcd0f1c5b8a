#!/usr/bin/env python3
"""Graph-mode decode ms/token with stages left out (GpuCheck bench-ablate), before and after a change, vs the HBM floor.
Usage: plot_ablate.py RESULT_DIR [PHASE ...]   (reads RESULT_DIR/PHASE/ablate-*.txt for each phase, default before and
after; writes RESULT_DIR/ablation.png + .json)"""
import json, os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

d = sys.argv[1]
phases_wanted = sys.argv[2:] or ["before", "after"]
runs = {}
for phase in phases_wanted:
    for name in sorted(os.listdir(os.path.join(d, phase))):
        if not name.startswith("ablate-"):
            continue
        for line in open(os.path.join(d, phase, name)):
            if line.startswith("{"):
                r = json.loads(line)
                if r.get("check") == "decode-bench":
                    runs.setdefault(r["label"], {}).setdefault(phase, {}).setdefault(r["gemm"], []).append(r)
summary = {}
fig, axes = plt.subplots(1, len(runs), figsize=(7 * len(runs), 4.5))
for ax, (label, phases) in zip(axes if len(runs) > 1 else [axes], sorted(runs.items())):
    variants = list(phases[phases_wanted[-1]].keys())
    width = 0.8 / len(phases_wanted)
    for i, phase in enumerate(phases_wanted):
        ms = [min(x["ms_per_token_mean"] for x in phases[phase][v]) for v in variants]
        ax.bar([j + (i - (len(phases_wanted) - 1) / 2) * width for j in range(len(variants))], ms, width, label=phase)
        summary.setdefault(label, {})[phase] = dict(zip(variants, ms))
    floor = phases[phases_wanted[-1]][variants[0]][0]["floor_ms_all_params"]
    summary[label]["floor_ms"] = floor
    ax.axhline(floor, color="k", ls="--", lw=1, label=f"HBM floor {floor:.2f} ms")
    ax.set_xticks(range(len(variants)))
    ax.set_xticklabels([v.replace("graph-without", "w/o").replace("+", "+\n") for v in variants], fontsize=7)
    ax.set_ylabel("ms / token (graph mode, batch 1)")
    ax.set_title(f"{label}: decode with stages left out (H100)")
    ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(d, "ablation.png"), dpi=110)
json.dump(summary, open(os.path.join(d, "ablation.json"), "w"), indent=1)
print(json.dumps(summary, indent=1))
