#!/usr/bin/env python3
"""Drafting schemes on the CPU (issue #6, point 5): sequential vs EasySpec (each calibration policy) vs CARD on the
bundled pair, plus the target split tensor-parallel. Each configuration generates greedily from the same prompts;
every run's token ids must equal the sequential run's (lossless), and acceptance, tokens per target forward and
tokens/s are averaged. Writes bench/results/cpu-draft-modes.json and .png.

Usage: python3 bench/draft-modes.py [--tokens 96] [--threads 1]   (build first: ./mvnw -q -DskipTests package)
"""
import argparse, datetime, json, os, platform, subprocess, sys

PROMPTS = [
    "Mr President, I would like to",
    "The Commission has",
    "This means that the principle of the free",
    "I should like to thank the rapporteur for",
    "We cannot accept",
    "The European Parliament",
    "Madam President, on a point of order",
    "In conclusion, I would say that",
]

CONFIGS = [
    ("sequential", []),
    ("easyspec every-round", ["--draft-mode", "easyspec", "--layer-groups", "0-1", "--calibration", "every-round"]),
    ("easyspec every-mismatch", ["--draft-mode", "easyspec", "--layer-groups", "0-1", "--calibration", "every-mismatch"]),
    ("easyspec never", ["--draft-mode", "easyspec", "--layer-groups", "0-1", "--calibration", "never"]),
    ("card K=1", ["--draft-mode", "card", "--draft-devices", "1", "--card-width", "1"]),
    ("card K=4", ["--draft-mode", "card", "--draft-devices", "1", "--card-width", "4"]),
    ("layers:4 sequential", ["--draft", "layers:4"]),
    ("layers:4 easyspec 0|1-2|3", ["--draft", "layers:4", "--draft-mode", "easyspec", "--layer-groups", "0|1-2|3"]),
    ("layers:4 easyspec lp2 0-1|2-3", ["--draft", "layers:4", "--draft-mode", "easyspec", "--layer-groups", "0-1|2-3"]),
    ("layers:4 easyspec lp4 0-3", ["--draft", "layers:4", "--draft-mode", "easyspec", "--layer-groups", "0-3",
                                   "--draft-devices", "4"]),
    ("plain TP=1", ["--no-speculation"]),
    ("plain TP=2", ["--no-speculation", "--tp", "2"]),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/results/cpu-draft-modes")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)
    reference = {}
    rows = []
    for name, extra in CONFIGS:
        acc, tpf, tps, drafted, accepted = [], [], [], 0, 0
        for p in PROMPTS:
            threads = a.threads * (2 if "--tp" in extra else 1)
            cmd = ["bin/specdec", "generate", "--prompt", p, "--max-tokens", str(a.tokens), "--ignore-eos", "--json",
                   "--threads", str(threads)] + extra
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"{' '.join(cmd)} failed:\n{res.stderr}")
            j = json.loads(res.stdout.strip().splitlines()[-1])
            ids = j["token_ids"]
            if p in reference and ids != reference[p]:
                sys.exit(f"LOSSLESSNESS VIOLATED: {name} on {p!r} differs from the sequential output")
            reference.setdefault(p, ids)
            tps.append(j["tokens_per_second"])
            if j.get("drafted_tokens"):
                drafted += j["drafted_tokens"]
                accepted += j["accepted_tokens"]
                tpf.append(j["tokens_per_target_forward"])
        row = {"config": name, "args": extra, "prompts": len(PROMPTS), "tokens": a.tokens,
               "acceptance_rate": round(accepted / drafted, 4) if drafted else None,
               "tokens_per_target_forward": round(sum(tpf) / len(tpf), 3) if tpf else 1.0,
               "tokens_per_second_mean": round(sum(tps) / len(tps), 2), "identical_to_sequential": True}
        rows.append(row)
        print(f"{name:26s} acceptance {row['acceptance_rate']!s:7s} tokens/forward {row['tokens_per_target_forward']:5.2f} "
              f"tok/s {row['tokens_per_second_mean']:8.1f}", flush=True)
    for r in rows:
        base = next(x for x in rows if x["config"] == ("layers:4 sequential" if r["config"].startswith("layers:4") else "sequential"))
        if r["acceptance_rate"] is not None and base["acceptance_rate"]:
            r["acceptance_vs_sequential"] = round(r["acceptance_rate"] / base["acceptance_rate"], 4)
    result = {"command": "python3 bench/draft-modes.py " + " ".join(sys.argv[1:]), "machine": platform.processor() or platform.machine(),
              "cores": os.cpu_count(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "target": "models/target", "draft": "models/draft (2 layers; EasySpec plan 0-1 on 2 CPU devices); layers:4 = the target's first 4 layers (plan 0|1-2|3)",
              "threads_per_device": a.threads, "gamma": 4, "results": rows}
    with open(a.out + ".json", "w") as f:
        json.dump(result, f, indent=2)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        spec = [r for r in rows if r["acceptance_rate"] is not None]
        fig, ax = plt.subplots(1, 2, figsize=(11, 4))
        ax[0].barh([r["config"] for r in spec], [r["acceptance_rate"] for r in spec], color="tab:blue")
        ax[0].set_xlabel("acceptance (accepted / drafted)")
        ax[1].barh([r["config"] for r in rows], [r["tokens_per_second_mean"] for r in rows], color="tab:green")
        ax[1].set_xlabel("tokens/s (this CPU; short runs incl. JIT warm-up)")
        fig.suptitle(f"Drafting schemes on the bundled pair, greedy, {len(PROMPTS)} prompts x {a.tokens} tokens (outputs identical)")
        fig.tight_layout()
        fig.savefig(a.out + ".png", dpi=110)
    except ImportError:
        print("matplotlib missing: no PNG", file=sys.stderr)


if __name__ == "__main__":
    main()
