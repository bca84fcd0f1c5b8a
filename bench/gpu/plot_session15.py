#!/usr/bin/env python3
"""Session 15's tried-and-dropped experiments for the 1B shape (bench/results/cuda-h100-2026-11-24-session15-fusedmlp):
summary.json and session15.png. Graph decode ms/token per interleaved round: the MLP as one kernel (call 1 from its
results.jsonl; call 3's numbers as printed by that call, listed below because no files came back from it), register
caps (call 4) and the L2 prefetch of the next layer's q/k/v and o (call 5), each against the default in the same call.
Usage: /usr/bin/python3 bench/gpu/plot_session15.py [RESULTS_DIR]
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
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "results", "cuda-h100-2026-11-24-session15-fusedmlp")


def rounds(path, prefix):
    """ms/token of the graph decode runs whose run tag starts with prefix, in round order."""
    rows = [json.loads(line) for line in open(os.path.join(root, path)) if line.strip()]
    runs = [r for r in rows if r.get("check") == "decode-bench" and r.get("gemm") == "skinny-kernel+graph"
            and r["run"].startswith(prefix)]
    return [r["ms_per_token_median"] for r in sorted(runs, key=lambda r: r["run"])]


# call 3: GpuCheck bench in a loop, printed by the call (see COMMAND.md); no files came back
call3 = {"two kernels": [1.204, 1.192, 1.184], "fused": [1.232, 1.234, 1.233], "fused, no atomics (wrong output)": [1.194, 1.222, 1.196]}
panels = [
    ("MLP as one kernel, call 1 (1B)", {"two kernels": rounds("call1/results.jsonl", "bench-1b-two-"),
                                         "fused": rounds("call1/results.jsonl", "bench-1b-fused-"),
                                         "fused + L2 prefetch of down rows": rounds("call1/results.jsonl", "bench-1b-pf-")}),
    ("MLP as one kernel, call 3 (1B)", call3),
    ("register caps (1B / 8B)", {"1B packaged": rounds("call4/rounds.jsonl", "bench-1b-packaged-"),
                                 "1B capped": rounds("call4/rounds.jsonl", "bench-1b-r64a-"),
                                 "8B packaged / 5": [x / 5 for x in rounds("call4/rounds.jsonl", "bench-8b-packaged-")],
                                 "8B capped / 5": [x / 5 for x in rounds("call4/rounds.jsonl", "bench-8b-r64a-")]}),
    ("next layer's q/k/v + o into L2 (1B)", {"none (default)": rounds("call5/rounds.jsonl", "bench-1b-none-"),
                                             "normal": rounds("call5/rounds.jsonl", "bench-1b-normal-"),
                                             "evict_last": rounds("call5/rounds.jsonl", "bench-1b-last-")}),
]
summary = {"device": "H100 (one, lent as nvidia-h100-x1)", "graph_decode_ms_per_token": {}}
fig, axes = plt.subplots(1, 4, figsize=(18, 4.4))
for ax, (title, series) in zip(axes, panels):
    summary["graph_decode_ms_per_token"][title] = {}
    for name, ms in series.items():
        summary["graph_decode_ms_per_token"][title][name] = {"rounds": ms, "median": statistics.median(ms)}
        ax.plot(range(1, len(ms) + 1), ms, "o-", label=f"{name}: median {statistics.median(ms):.3f}")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("interleaved round")
    ax.set_ylabel("graph decode ms/token")
    ax.set_xticks([1, 2, 3])
    ax.legend(fontsize=7)
summary["note"] = ("8B values in the register-cap panel are divided by 5 to share the axis; every variant is slower "
                   "than or level with the default for the 1B shape, so none is on main")
save(fig, root, "session15.png", summary,
     "Session 15, three ideas for the 1B shape's decode, each against the default in the same call (H100)")
