#!/usr/bin/env python3
"""Session 13's H100 results (bench/results/cuda-h100-2026-11-24-session13-flash): summary.json and session13.png.

Panels: prefill time of the tensor-core prefill attention vs attention_paged over prompt lengths (GpuCheck flash,
defaults); 8B-shape prefill with bf16 prefill inputs vs split ones as one paired GEMM or two GEMMs (check.sh pair);
served aggregate tok/s at 1/8/32/64 streams, session 12 vs this session's splitActivations modes (serve-batch.sh).
Usage: /usr/bin/python3 bench/gpu/plot_session13.py [RESULTS_DIR]
"""
import json
import os
import re
import statistics
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

here = os.path.dirname(os.path.abspath(__file__))
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "results", "cuda-h100-2026-11-24-session13-flash")
session12 = os.path.join(root, "..", "serve-batch-h100-2026-11-24-session12")


def jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def served(path):
    levels = json.load(open(path))["levels"]
    return {lv["concurrency"]: lv["tokens_per_second"] for lv in levels}


def served_summary(path):
    """Aggregate tok/s per level from a summary.txt (session 12's 8B run only came back as its printed summary)."""
    out = {}
    for line in open(path):
        m = re.match(r"\S+\s+(\d+)\s+([\d.]+)\s", line)
        if m:
            out[int(m.group(1))] = float(m.group(2))
    return out


flash = [r for r in jsonl(os.path.join(root, "flash-all", "results.jsonl")) if r.get("check") == "flash-prefill"]
prefill = {}
for r in jsonl(os.path.join(root, "run1-flash-pair", "results.jsonl")):
    if r.get("check") != "decode-bench" or r.get("gemm") != "skinny-kernel+graph":
        continue
    variant = r["run"].split("-")[-2] if r["run"].split("-")[-1].isdigit() else r["run"].split("-")[-1]
    prefill.setdefault(f"{r['label']}/{r['prompt']}/{variant}", []).append(r["prefill_ms"])
serve = {
    "llama-3.2-1b": {
        "session 12 (decode split, attention_paged)": served(os.path.join(session12, "1b", "serve-llama-3.2-1b.json")),
        "decode split + flash": served(os.path.join(root, "serve-1b-decode", "serve-llama-3.2-1b.json")),
        "prefill split + flash (default)": served(os.path.join(root, "serve-1b-prefill", "serve-llama-3.2-1b.json")),
        "all split + flash": served(os.path.join(root, "serve-1b-all", "serve-llama-3.2-1b.json")),
    },
    "llama-3-8b": {
        "prefill split + flash (default)": served(os.path.join(root, "serve-8b-prefill", "serve-llama-3-8b.json")),
    },
}
s12_8b = os.path.join(session12, "8b", "summary.txt")
# session 12's 8B run brought back only its bench JSON; its summary was printed and copied into that folder's COMMAND.md
serve["llama-3-8b"]["session 12 (decode split, attention_paged)"] = (
    served_summary(s12_8b) if os.path.exists(s12_8b) else {1: 159.5, 8: 1105.3, 32: 3173.1, 64: 4779.0})

summary = {
    "host": "one NVIDIA H100 80GB HBM3",
    "flash_prefill": [{k: r[k] for k in ("label", "kernel", "prompt", "prefill_ms_flash", "prefill_ms_paged", "speedup",
                                         "prompt_rows_max_rel_l2", "decode_max_rel_l2", "split_prefill", "pass")}
                      for r in flash],
    "prefill_ms_median": {k: statistics.median(v) for k, v in sorted(prefill.items())},
    "served_tok_s": serve,
}
with open(os.path.join(root, "summary.json"), "w") as f:
    json.dump(summary, f, indent=1)

def log_log(a, xlabel, ylabel, title, legend_size):
    a.set_xscale("log", base=2)
    a.set_yscale("log")
    a.set_xlabel(xlabel)
    a.set_ylabel(ylabel)
    a.set_title(title)
    a.legend(fontsize=legend_size)


fig, ax = plt.subplots(1, 3, figsize=(17, 4.6))
for label, marker in (("llama-3.2-1b", "o"), ("llama-3-8b", "s")):
    rows = sorted((r for r in flash if r["label"] == label and r["split_prefill"]), key=lambda r: r["prompt"])
    p = [r["prompt"] for r in rows]
    ax[0].plot(p, [r["prefill_ms_paged"] for r in rows], marker=marker, linestyle="--", label=f"{label} attention_paged")
    ax[0].plot(p, [r["prefill_ms_flash"] for r in rows], marker=marker, label=f"{label} tensor-core prefill")
log_log(ax[0], "prompt tokens (one forward)", "prefill ms (median of 5)",
        "prefill attention: flash_prefill.cuh vs attention_paged", 7)

names = [("default", "bf16 inputs\n(decode split)"), ("pair", "split, one\npaired GEMM"), ("two", "split,\ntwo GEMMs")]
x = range(len(names))
for i, prompt in enumerate((128, 2048)):
    vals = [statistics.median(prefill[f"llama-3-8b/{prompt}/{n}"]) for n, _ in names]
    bars = ax[1].bar([j + 0.38 * i for j in x], vals, width=0.38, label=f"{prompt}-token prompt")
    for b, v in zip(bars, vals):
        ax[1].text(b.get_x() + b.get_width() / 2, v, f"{v:.1f}", ha="center", va="bottom", fontsize=7)
ax[1].set_xticks([j + 0.19 for j in x])
ax[1].set_xticklabels([n for _, n in names], fontsize=8)
ax[1].set_ylabel("8B-shape prefill ms (median of 3 rounds)")
ax[1].set_yscale("log")
ax[1].set_title("cost of split prefill inputs (flash attention on)")
ax[1].legend(fontsize=7)

for shape, marker in (("llama-3.2-1b", "o"), ("llama-3-8b", "s")):
    for name, levels in serve[shape].items():
        ks = sorted(levels)
        ax[2].plot(ks, [levels[k] for k in ks], marker=marker, label=f"{shape}: {name}")
log_log(ax[2], "concurrent streams (gRPC, 128-token prompts, 256 new)", "aggregate tok/s", "served throughput", 6)
fig.suptitle("session 13 on an H100: tensor-core prefill attention, split prefill inputs by default")
fig.tight_layout()
fig.savefig(os.path.join(root, "session13.png"), dpi=110)
print(json.dumps(summary["prefill_ms_median"], indent=1))
print(json.dumps(serve, indent=1))
