#!/usr/bin/env python3
"""Session 14's H100 results (bench/results/cuda-h100-2026-11-24-session14-persistent): summary.json and session14.png.

The persistent decode kernel (tried and dropped; the patch is in that folder) against the graph path on the
Llama-3.2-1B shape. Left: µs per layer of each phase between the kernel's grid barriers (block 0's GPU-clock stamps,
GpuCheck persistent with -Dspecdec.cuda.persistentTrace) with and without L2 prefetch, and the HBM floor of each
phase's weights. Right: graph decode ms/token of the default graph path, the graph path with 8 warps on every tile
(what the kernel's bits need), the persistent kernel, and the kernel's barriers alone (an ablation), against the floor.
Usage: /usr/bin/python3 bench/gpu/plot_session14.py [RESULTS_DIR]
"""
import json
import os
import statistics
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

here = os.path.dirname(os.path.abspath(__file__))
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "results", "cuda-h100-2026-11-24-session14-persistent")


def jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def median_ms(rows, run, gemm_prefix):
    v = [r["ms_per_token_median"] for r in rows
         if r.get("check") == "decode-bench" and r["run"] == run and r["gemm"].startswith(gemm_prefix)]
    return statistics.median(v) if v else None


p3, p4, p5 = (jsonl(os.path.join(root, p, "results.jsonl")) for p in ("p3", "p4", "p5"))
bench = [r for r in p3 if r.get("check") == "decode-bench"]
floor_ms = statistics.median(r["floor_ms_all_params"] for r in bench)
gbps = statistics.median(r["d2d_GBps"] for r in bench)
decode = {
    "graph path, default (16 warps on the o/down tiles)": median_ms(p3, "bench-1b-default-1", "skinny-kernel+graph"),
    "graph path, 8 warps on every tile": median_ms(p3, "persistent-1b", "graph-8-warps"),
    "persistent kernel": median_ms(p3, "persistent-1b", "persistent"),
    "persistent kernel, barriers only (ablation)": median_ms(p4, "persistent-1b-flags78", "persistent"),
}
phases = ["norm+qkv", "rope", "attention", "o", "norm+gate/up", "down"]
# bytes of weights each phase streams (Llama-3.2-1B shape): q/k/v 3072x2048, o 2048x2048, gate/up 16384x2048, down 2048x8192
weight_bytes = {"norm+qkv": 3072 * 2048 * 2, "rope": 0, "attention": 0, "o": 2048 * 2048 * 2,
                "norm+gate/up": 16384 * 2048 * 2, "down": 2048 * 8192 * 2}
phase_floor = {p: weight_bytes[p] / (gbps * 1e9) * 1e6 for p in phases}
traces = {}
for rows, run, name in ((p4, "persistent-1b-flagstrace", "no prefetch"), (p5, "persistent-1b-trace-pf8", "L2 prefetch 8 MiB"),
                        (p5, "persistent-1b-trace-pf24", "L2 prefetch 24 MiB")):
    t = [r for r in rows if r.get("check", "").startswith("persistent-phases") and r["run"] == run]
    if t:
        traces[name] = {p: t[0][p] for p in phases + ["layer"]}

summary = {"device": "H100 (one, lent as nvidia-h100-x1)", "d2d_GBps": gbps, "floor_ms": floor_ms,
           "decode_ms_per_token": decode,
           "fraction_of_floor": {k: (floor_ms / v if v else None) for k, v in decode.items()},
           "phase_us_per_layer": traces, "phase_floor_us": phase_floor,
           "bitwise_equal_to_graph_path": all(r["pass"] for r in p3 + p4 + p5
                                              if r.get("check", "").startswith(("persistent-equals", "verify-equals"))
                                              and r["run"] in ("persistent-1b", "persistent-1b-flagstrace", "persistent-1b-flags64"))}
with open(os.path.join(root, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)

fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.8))
width = 0.8 / (len(traces) + 1)
for i, (name, t) in enumerate(list(traces.items()) + [("HBM floor of the phase's weights", phase_floor)]):
    a.bar([x + i * width for x in range(len(phases))], [t[p] for p in phases], width, label=name)
a.set_xticks([x + width * len(traces) / 2 for x in range(len(phases))])
a.set_xticklabels(phases, rotation=20)
a.set_ylabel("µs per layer (median over 16 layers x 16 steps)")
a.set_title("Persistent kernel: time between grid barriers")
a.legend(fontsize=8)
names = list(decode)
b.barh(range(len(names)), [decode[n] for n in names], color=["tab:blue", "tab:cyan", "tab:red", "tab:gray"])
b.axvline(floor_ms, color="k", linestyle="--", label=f"HBM floor {floor_ms:.3f} ms")
b.axvline(floor_ms / 0.75, color="g", linestyle=":", label=f"goal 0.75 of floor ({floor_ms / 0.75:.3f} ms)")
for i, n in enumerate(names):
    ratio = "" if "ablation" in n else f" = {floor_ms / decode[n]:.2f} of floor"
    b.text(decode[n], i, f" {decode[n]:.3f} ms{ratio}", va="center", fontsize=8)
b.set_yticks(range(len(names)))
b.set_yticklabels(names, fontsize=8)
b.set_xlabel("ms/token: 1B shape, graph decode, 128-token prompt, 256 steps")
b.set_xlim(0, max(decode.values()) * 1.5)
b.legend(fontsize=8, loc="lower right")
b.set_title("Decode step, same lending")
fig.tight_layout()
fig.savefig(os.path.join(root, "session14.png"), dpi=110)
print(json.dumps(summary, indent=2))
