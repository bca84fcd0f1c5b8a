"""Plots of results.jsonl (python3 plot.py in this folder): speculative speedup vs bound, decode vs floor."""
import json
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

rows = [json.loads(l) for l in open("results.jsonl") if l.strip()]
spec = [r for r in rows if r["check"] == "spec-bench-injected"]
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
ax = axes[0]
for g in sorted({r["gamma"] for r in spec}):
    pts = sorted((r["alpha"], r["speedup"], r["bound"]) for r in spec if r["gamma"] == g)
    line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"γ={g} measured")
    ax.plot([p[0] for p in pts], [p[2] for p in pts], "--", color=line.get_color(), alpha=0.6)
ax.axhline(1, color="gray", lw=0.5)
ax.set_xlabel("injected acceptance α"); ax.set_ylabel("speedup vs vanilla (dashed: bound)")
ax.set_title("8B target + 1B draft, H100, acceptance injection"); ax.legend(fontsize=7)
ax = axes[1]
dec = [r for r in rows if r["check"] == "decode-bench" and "tok_s" in r]
hf = {("1b" if "1b" in r["config"] else "8b"): r["tok_s"] for r in rows if r["check"] == "hf-eager-decode"}
labels, vals, floors = [], [], []
for r in dec:
    labels.append(f"{r['label']}\n{r['gemm']}"); vals.append(r["tok_s"]); floors.append(1e3 / r["floor_ms_all_params"])
for k, v in hf.items():
    labels.append(f"HF eager {k}"); vals.append(v); floors.append(None)
x = range(len(labels))
ax.bar(x, vals, color="tab:blue")
for i, f in enumerate(floors):
    if f: ax.plot([i - 0.4, i + 0.4], [f, f], "r-")
ax.set_xticks(list(x)); ax.set_xticklabels(labels, fontsize=7, rotation=20)
ax.set_ylabel("batch-1 decode tok/s (red: HBM floor)"); ax.set_yscale("log")
ax.set_title("decode, bf16, random weights, H100")
fig.tight_layout(); fig.savefig("cuda-h100.png", dpi=110)
