#!/usr/bin/env python3
"""Plots bench/gpu/batch-held.sh results: served T0.8 speculative throughput, host vs device acceptance.
Usage: plot_batch_held.py RESULTS_DIR   (reads results.json there, writes batch-held.png)"""
import json, sys, os
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
d = sys.argv[1]
r = json.load(open(os.path.join(d, "results.json")))
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
s = r["served_llama_3_2_1b_T0.8"]
for path, style in (("host", "o--"), ("device", "o-")):
    a.plot(s["clients"], s[path + "_tok_s"], style, label=f"{path} acceptance")
a.set_xscale("log", base=2); a.set_yscale("log"); a.set_xlabel("concurrent streams"); a.set_ylabel("aggregate tok/s")
a.set_title("served 1B shape, draft layers:2, T 0.8, gamma 4"); a.legend()
c = r["batchheld_batch8"]
names = list(c.keys())
b.bar([n + "\nhost" for n in names], [c[n]["host"] for n in names], color="grey")
b.bar([n + "\ndevice" for n in names], [c[n]["device"] for n in names], color="tab:blue")
b.set_yscale("log"); b.set_ylabel("tok/s (BatchEngine, batch 8)"); b.set_title("GpuCheck batchheld")
fig.suptitle(r["host"]); fig.tight_layout(); fig.savefig(os.path.join(d, "batch-held.png"), dpi=110)
