#!/usr/bin/env python3
"""Split activations (check.sh split / split-hf): logits error against fp32 transformers per variant and how the rows
were computed, and graph decode / prefill ms per variant over interleaved rounds.
Usage: plot_split.py HF_DIR TIMING_DIR OUT_DIR   (reads */results.jsonl; writes OUT_DIR/split.png + split.json)"""
import json, os, statistics, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

hf_dir, timing_dir, out = sys.argv[1:4]
load = lambda d: [json.loads(l) for l in open(os.path.join(d, "results.jsonl")) if l.strip()]
order = ["bf16", "split", "split-all"]
names = {"bf16": "bf16 inputs", "split": "split (default:\ndecode/verify)", "split-all": "split all\n(+ cuBLAS prefill)"}

# accuracy: vs-hf-fp32 rows of specdec-cuda, run = {hf|hf8b}-compare-{variant}-{gen|one-forward}
accuracy = {}
for r in load(hf_dir):
    if r.get("check") != "vs-hf-fp32" or r.get("who") != "specdec-cuda":
        continue
    model, _, rest = r["run"].partition("-compare-")
    how = "gen" if rest.endswith("-gen") else "one-forward"
    variant = rest[: -len(how) - 1]
    accuracy.setdefault(model, {}).setdefault(how, {})[variant] = {
        "max_rel_l2": r["max_rel_l2"], "median_rel_l2": r["median_rel_l2"],
        "greedy_equal": r["greedy_equal"], "greedy_steps": r["greedy_steps"], "pass": r.get("pass")}

# cost: graph decode and prefill per variant, run = bench-{1b|8b}-{variant}-{round}
timing = {}
for r in load(timing_dir):
    if r.get("check") != "decode-bench" or r.get("gemm") != "skinny-kernel+graph":
        continue
    _, _, rest = r["run"].split("-", 2)
    variant = rest.rsplit("-", 1)[0]
    timing.setdefault(r["label"], {}).setdefault(variant, []).append(r)
summary = {"accuracy": accuracy, "timing": {}}
for label, variants in timing.items():
    summary["timing"][label] = {v: {
        "decode_ms_rounds": [x["ms_per_token_mean"] for x in xs],
        "decode_ms_median": statistics.median(x["ms_per_token_mean"] for x in xs),
        "fraction_of_floor_median": statistics.median(x["fraction_of_floor"] for x in xs),
        "prefill_ms_median": statistics.median(x["prefill_ms"] for x in xs)} for v, xs in variants.items()}

fig, axes = plt.subplots(1, 3, figsize=(17, 4.6))
ax = axes[0]
width = 0.2
series = [(m, how) for m in ("hf8b", "hf") for how in ("gen", "one-forward") if how in accuracy.get(m, {})]
for i, (m, how) in enumerate(series):
    xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(order))]
    ys = [accuracy[m][how].get(v, {}).get("max_rel_l2", 0) for v in order]
    ax.bar(xs, ys, width, label=f"{'Llama-3-8B shape' if m == 'hf8b' else 'small config'}, "
                               f"{'prefill + decode steps' if how == 'gen' else 'one forward'}")
ax.axhline(0.02, color="r", ls="--", label="goal 2e-2")
ax.set_xticks(range(len(order)), [names[v] for v in order])
ax.set_ylabel("max relative L2 of logits vs fp32 transformers")
ax.set_title("accuracy (same random weights)")
ax.legend(fontsize=7)
for ax, (label, what, key) in zip(axes[1:], [("llama-3-8b", "decode", "decode_ms_rounds"), ("llama-3-8b", "prefill", None)]):
    t = summary["timing"].get(label, {})
    vs = [v for v in order if v in t]
    if key:
        ax.bar([names[v] for v in vs], [t[v]["decode_ms_median"] for v in vs], color="#2a7")
        for v in vs:
            ax.scatter([names[v]] * len(t[v][key]), t[v][key], color="k", s=8, zorder=3)
        lo = min(min(t[v][key]) for v in vs)
        ax.set_ylim(lo * 0.95, max(max(t[v][key]) for v in vs) * 1.02)
        ax.set_title(f"{label}: graph decode ms/token (median of rounds)")
    else:
        for j, lab in enumerate(sorted(summary["timing"])):
            tt = summary["timing"][lab]
            xs = [k + (j - 0.5) * 0.35 for k in range(len(vs))]
            ax.bar(xs, [tt[v]["prefill_ms_median"] for v in vs], 0.35, label=lab)
        ax.set_xticks(range(len(vs)), [names[v] for v in vs])
        ax.set_title("128-token prefill ms (median of rounds)")
        ax.legend()
    ax.set_ylabel("ms")
fig.tight_layout()
fig.savefig(os.path.join(out, "split.png"), dpi=110)
json.dump(summary, open(os.path.join(out, "split.json"), "w"), indent=1)
print(json.dumps(summary, indent=1))
