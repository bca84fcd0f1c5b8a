#!/usr/bin/env python3
"""pekko-tp.sh runs with SHARE_GPU=1: a Pekko tensor-parallel group whose ranks share one GPU, one JVM per rank (or one
JVM for all). Correctness is the result: per run, each check of pekko-tp.json (PASS green, FAIL red) and the processes
whose log says their draft held whole rounds. No timing: the ranks meet in host-staged collectives over loopback TCP.
Usage: plot_pekko_processes.py RESULT_DIR [TITLE [NOTE]]   (reads RESULT_DIR/pekko-*/pekko-tp.json and log-*.txt; writes
pekko-processes.png and summary.json)"""
import glob, json, os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_common import save

d = sys.argv[1]
# TITLE, NOTE: where the run was not the shared-GPU test mode (session 19: one JVM per GPU on 2x H200, NCCL)
title = sys.argv[2] if len(sys.argv) > 2 else "A Pekko TP=2 group on one H100, its ranks in two JVMs (host-staged collectives over loopback TCP)"
note = sys.argv[3] if len(sys.argv) > 3 else "two ranks on one H100, host-staged collectives over loopback TCP: timings not reported"
runs = []
for path in sorted(glob.glob(os.path.join(d, "pekko-*", "pekko-tp.json"))):
    r = json.load(open(path))
    logs = sorted(glob.glob(os.path.join(os.path.dirname(path), "log-*.txt")))
    held = sum(1 for log in logs if "held chain rounds on GPU" in open(log, errors="replace").read())
    runs.append({"run": os.path.basename(os.path.dirname(path)), "processes": r["processes"], "draft_mode": r["draft_mode"],
                 "pass": r["pass"], "held_round_logs": held, "logs": len(logs),
                 "checks": [(c["check"], c["pass"]) for c in r["rows"]]})
fig, ax = plt.subplots(figsize=(12, 1.2 + 0.9 * sum(len(r["checks"]) + 1 for r in runs) / 3))
y = 0
labels = []
for r in runs:
    rows = r["checks"] + [(f"processes whose draft held whole rounds: {r['held_round_logs']} of {r['logs']}",
                           r["draft_mode"] == "off" or r["held_round_logs"] == r["logs"])]
    for name, ok in rows:
        ax.barh(y, 1, color="tab:green" if ok else "tab:red")
        ax.text(0.01, y, f"{r['run']} ({r['processes']} JVM{'s' if r['processes'] > 1 else ''}, draft {r['draft_mode']}): {name}",
                va="center", fontsize=7, color="white")
        y += 1
    y += 0.5
ax.set_xlim(0, 1); ax.set_yticks([]); ax.set_xticks([]); ax.invert_yaxis()
summary = {"runs": [{k: v for k, v in r.items() if k != "checks"} | {"checks": [{"check": n, "pass": p} for n, p in r["checks"]]} for r in runs],
           "note": note}
save(fig, d, "pekko-processes.png", summary, title)
