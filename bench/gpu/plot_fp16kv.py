#!/usr/bin/env python3
"""fp16 vs bf16 KV cache on one GPU (check.sh fp16kv): error against HF fp32 per variant, greedy steps equal, and
graph decode / prefill times per interleaved round.

Usage: plot_fp16kv.py RUN_DIR   writes RUN_DIR/summary.json and RUN_DIR/fp16kv.png
"""
import json
import statistics
import sys
from collections import defaultdict

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

run_dir = sys.argv[1]
rows = [json.loads(line) for line in open(run_dir + "/results.jsonl") if line.strip()]
accuracy = {}
logits = None   # the hf-logits line before each comparison says what the variant ran with
for r in rows:
    if r.get("check") == "hf-logits":
        logits = r
    if r.get("check") == "vs-hf-fp32" and r.get("who") == "specdec-cuda":
        model = r["run"].partition("-compare")[0]
        variant = (f"{logits.get('kv_cache', 'bf16')} KV, split {'all' if logits['split_prefill'] else 'decode'}"
                   if logits else r["run"])
        accuracy[f"{'8B shape' if model == 'hf8b' else 'bundled'}: {variant}"] = {
            "max_rel_l2": r["max_rel_l2"], "median_rel_l2": r["median_rel_l2"],
            "greedy_equal": r["greedy_equal"], "greedy_steps": r["greedy_steps"], "pass": r.get("pass")}
timing = defaultdict(lambda: defaultdict(list))
for r in rows:
    if r.get("check") == "decode-bench" and r.get("gemm") == "skinny-kernel+graph" and r["run"].startswith("bench-"):
        _, shape, *variant, _round = r["run"].split("-")
        key = f"{shape} {'-'.join(variant)}"
        timing[key]["decode_ms"].append(r["ms_per_token_mean"])
        timing[key]["prefill_ms"].append(r["prefill_ms"])
summary = {"accuracy_vs_hf_fp32": accuracy,
           "timing": {k: {**v, "decode_ms_median_of_rounds": statistics.median(v["decode_ms"]),
                          "prefill_ms_median_of_rounds": statistics.median(v["prefill_ms"])} for k, v in timing.items()}}
json.dump(summary, open(run_dir + "/summary.json", "w"), indent=1)

fig, axes = plt.subplots(1, 3 if timing else 1, figsize=(17, 5) if timing else (7, 4.5), squeeze=False)
axes = axes[0]
names = [k for k in accuracy if k.startswith("8B")]
ax = axes[0]
ax.barh(names, [accuracy[k]["max_rel_l2"] for k in names], color=["tab:green" if accuracy[k]["pass"] else "tab:red" for k in names])
ax.axvline(2e-2, color="k", ls="--", lw=1, label="goal 2e-2")
ax.set_xscale("log")
ax.set_xlabel("max rel. L2 vs HF transformers fp32 (288 rows)")
for i, k in enumerate(names):
    ax.text(accuracy[k]["max_rel_l2"] * 1.1, i, f"{accuracy[k]['greedy_equal']}/{accuracy[k]['greedy_steps']} greedy", va="center", fontsize=8)
ax.set_title("Llama-3-8B shape, random weights, 256 greedy steps")
ax.legend(loc="lower right", fontsize=8)
for ax, metric, title in () if not timing else ((axes[1], "decode_ms", "graph decode time per round / bf16's median (same shape)"),
                          (axes[2], "prefill_ms", "128-token prefill time per round / bf16's median")):
    keys = sorted(timing)
    for i, k in enumerate(keys):
        base = statistics.median(timing[k.split()[0] + " bf16"][metric])
        ax.scatter([i] * len(timing[k][metric]), [v / base for v in timing[k][metric]], s=18)
    ax.axhline(1, color="k", lw=0.8)
    labels = [f"{k} ({statistics.median(timing[k][metric]):.3g} ms)" for k in keys]
    ax.set_xticks(range(len(keys)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
fig.suptitle(f"KV cache formats and split activations, H100 ({run_dir.rstrip('/').split('/')[-1]})")
fig.tight_layout()
fig.savefig(run_dir + "/fp16kv.png", dpi=110)
