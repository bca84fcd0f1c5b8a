#!/usr/bin/env python3
"""Graph-mode decode ms/token per variant of check.sh's interleaved rounds vs the HBM floor.
Usage: plot_pdl.py RESULT_DIR [VARIANT=LABEL ...]   (reads RESULT_DIR/results.jsonl; without variants: check.sh pdl's
nopdl / late / early, written to pdl.png + pdl.json; with them, e.g. check.sh swiglu's
"epilogue=SwiGLU epilogue (default)" "kernel=swiglu_bf16", written to rounds.png + rounds.json)"""
import json, os, statistics, sys, textwrap
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

d = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(d, "results.jsonl")) if l.strip()]
by = {}
for r in rows:
    if r.get("check") != "decode-bench" or r.get("gemm") != "skinny-kernel+graph" or "-" not in r.get("run", ""):
        continue
    variant = "-".join(r["run"].split("-")[2:-1])   # bench-8b-early-2, bench-1b-wide-argmax-3
    by.setdefault(r["label"], {}).setdefault(variant, []).append(r)
order = ["nopdl", "late", "early"]
names = {"nopdl": "normal launches", "late": "PDL (default)", "early": "PDL + early weights"}
stem = "pdl"
if len(sys.argv) > 2:
    order = [a.split("=", 1)[0] for a in sys.argv[2:]]
    names = {k: "\n".join(textwrap.wrap(v, 18)) for k, v in (a.split("=", 1) for a in sys.argv[2:])}
    stem = "rounds"
summary = {}
fig, axes = plt.subplots(1, len(by), figsize=(6 * len(by), 4.2))
for ax, (label, variants) in zip(axes if len(by) > 1 else [axes], sorted(by.items())):
    # each run measures the copy bandwidth (so the floor) itself: fractions are each run's own, then the median
    floor = statistics.median(x["floor_ms_all_params"] for xs in variants.values() for x in xs)
    med = {v: statistics.median(x["ms_per_token_mean"] for x in variants[v]) for v in order if v in variants}
    frac = {v: statistics.median(x["fraction_of_floor"] for x in variants[v]) for v in med}
    summary[label] = {"floor_ms": floor, "median_ms_per_token": med, "fraction_of_floor": frac,
                      "rounds": {v: [x["ms_per_token_mean"] for x in variants[v]] for v in med}}
    ax.bar([names[v] for v in med], list(med.values()), color=["#999", "#2a7", "#c84"][:len(med)])
    for v in med:
        ax.scatter([names[v]] * len(variants[v]), [x["ms_per_token_mean"] for x in variants[v]], color="k", s=8, zorder=3)
    ax.axhline(floor, color="r", ls="--", label=f"HBM floor {floor:.3f} ms (median of runs)")
    ax.set_ylim(floor * 0.9, max(med.values()) * 1.05)
    ax.set_title(f"{label}: graph decode, median of rounds")
    ax.set_ylabel("ms / token")
    ax.legend()
fig.tight_layout()
fig.savefig(os.path.join(d, stem + ".png"), dpi=110)
json.dump(summary, open(os.path.join(d, stem + ".json"), "w"), indent=1)
print(json.dumps(summary, indent=1))
