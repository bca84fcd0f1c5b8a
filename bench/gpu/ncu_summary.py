#!/usr/bin/env python3
"""Summarizes ncu-decode.sh's CSV: per (kernel, grid, block, registers, MB read), the launches seen, the median time in
µs, the median DRAM bytes read and their rate in GB/s. The prompt's prefill kernels are listed too; their grids and
launch counts (one per layer) tell them apart from the decode steps'."""
import csv
import statistics
import sys
from collections import defaultdict


def main(path):
    with open(path, newline="") as f:
        lines = [l for l in f if l.startswith('"')]
    rows = list(csv.reader(lines))
    if len(rows) < 3:
        print("no kernels profiled")
        return
    head = rows[0]
    col = {name: i for i, name in enumerate(head)}
    groups = defaultdict(list)
    for r in rows[2:]:   # rows[1]: units
        try:
            key = (r[col["Kernel Name"]], r[col["launch__grid_size"]], r[col["launch__block_size"]],
                   r[col["launch__registers_per_thread"]])
            ns = float(r[col["gpu__time_duration.sum"]].replace(",", ""))
            byts = float(r[col["dram__bytes_read.sum"]].replace(",", ""))
        except (KeyError, ValueError, IndexError):
            continue
        unit_t = rows[1][col["gpu__time_duration.sum"]]
        unit_b = rows[1][col["dram__bytes_read.sum"]]
        ns *= {"ns": 1, "usecond": 1e3, "us": 1e3, "msecond": 1e6, "ms": 1e6}.get(unit_t, 1)
        byts *= {"byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "KB": 1e3, "MB": 1e6, "GB": 1e9}.get(unit_b, 1)
        groups[key + (round(byts / 1e6),)].append((ns, byts))
    print(f"{'kernel':40s} {'grid':>7s} {'block':>5s} {'regs':>4s} {'n':>4s} {'med us':>8s} {'MB read':>8s} {'GB/s':>7s}")
    for key, v in sorted(groups.items(), key=lambda kv: (kv[0][0], -len(kv[1]))):
        t = statistics.median(x[0] for x in v) / 1e3
        b = statistics.median(x[1] for x in v)
        print(f"{key[0][:40]:40s} {key[1]:>7s} {key[2]:>5s} {key[3]:>4s} {len(v):4d} {t:8.2f} {b / 1e6:8.2f} "
              f"{b / (t * 1e3) if t > 0 else 0:7.0f}")


if __name__ == "__main__":
    main(sys.argv[1])
