#!/usr/bin/env python3
"""Issue #4's table from one `check.sh full` run: decode vs the HBM floor (and HF transformers eager), speculative
speedup vs the analytic bound per γ and α, fused vs unfused acceptance.

Usage: plot_issue4.py RUN_DIR   writes RUN_DIR/issue4.json and RUN_DIR/issue4.png
"""
import json
import sys
from collections import defaultdict

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

run_dir = sys.argv[1]
rows = [json.loads(line) for line in open(run_dir + "/results.jsonl") if line.strip()]
decode = {r["label"]: r for r in rows if r.get("check") == "decode-bench" and r.get("gemm") == "skinny-kernel+graph"
          and r["run"] in ("bench-1b", "bench-8b")}
peer = {("llama-3.2-1b" if r["run"].endswith("1b") else "llama-3-8b"): r["tok_s"] for r in rows
        if r.get("check") == "hf-eager-decode"}
spec = defaultdict(dict)
for r in rows:
    if r.get("check") == "spec-bench-injected":
        spec[r["alpha"]][r["gamma"]] = {"speedup": r["speedup"], "bound": r["bound"], "efficiency": r["efficiency"]}
accept = {r["vocab"]: r["speedup"] for r in rows if r.get("check") == "acceptance-fused-vs-unfused"}
table = {"decode": {k: {"tok_s": v["tok_s"], "ms_per_token": v["ms_per_token_mean"], "floor_ms": v["floor_ms_all_params"],
                        "fraction_of_floor": v["fraction_of_floor"], "hf_eager_tok_s": peer.get(k),
                        "vs_hf_eager": v["tok_s"] / peer[k] if k in peer else None} for k, v in decode.items()},
         "speculative_8b_1b": spec, "fused_acceptance_speedup_by_vocab": accept}
json.dump(table, open(run_dir + "/issue4.json", "w"), indent=1)

fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
ax = axes[0]
labels = sorted(decode)
ax.bar(labels, [decode[k]["fraction_of_floor"] for k in labels], color="tab:blue")
for i, k in enumerate(labels):
    ax.text(i, decode[k]["fraction_of_floor"] + 0.01, f"{decode[k]['tok_s']:.0f} tok/s\n(HF eager {peer.get(k, 0):.0f})",
            ha="center", fontsize=8)
for goal, k in ((0.75, "llama-3.2-1b"), (0.90, "llama-3-8b")):
    if k in labels:
        i = labels.index(k)
        ax.hlines(goal, i - 0.4, i + 0.4, colors="k", linestyles="--")
ax.set_ylim(0, 1.1)
ax.set_ylabel("fraction of the HBM floor (dashed: goal)")
ax.set_title("batch-1 graph decode, 128-token prompt, 256 new")
ax = axes[1]
for alpha in sorted(spec):
    gs = sorted(spec[alpha])
    ax.plot(gs, [spec[alpha][g]["speedup"] for g in gs], "o-", label=f"α {alpha} measured")
    ax.plot(gs, [spec[alpha][g]["bound"] for g in gs], "--", color=ax.lines[-1].get_color(), alpha=0.6, label=f"α {alpha} bound")
ax.set_xlabel("γ")
ax.set_ylabel("speedup over vanilla 8B decode")
ax.set_title("8B target + 1B draft, injected acceptance")
ax.legend(fontsize=7, ncol=2)
ax = axes[2]
vocabs = sorted(accept)
ax.bar([str(v) for v in vocabs], [accept[v] for v in vocabs], color="tab:green")
ax.axhline(2, color="k", ls="--", lw=1)
ax.set_xlabel("vocabulary")
ax.set_ylabel("fused / unfused acceptance time (goal 2x)")
ax.set_title("fused acceptance kernel speedup, γ 5")
fig.suptitle("issue #4 on an H100 (bench/gpu/check.sh full)")
fig.tight_layout()
fig.savefig(run_dir + "/issue4.png", dpi=110)
