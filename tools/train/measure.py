#!/usr/bin/env python3
"""Measures the bundled pair with specdec on held-out prompts (standard library only).

    python3 tools/train/measure.py --test tools/corpus/target/english/test.txt --prompts 10 > models/training/acceptance.json

Prompts are the first 8 words of the first N held-out (test) documents, as in train.py's hf_greedy.json. For each
prompt: speculative greedy (gamma 4) and speculative sampling at temperature 1 (gamma 4, seed = prompt index), 100
tokens each. Reports draft->target acceptance (accepted / drafted, summed over prompts), acceptance by draft
position, tokens per target forward, the continuations, and whether speculative greedy equals plain greedy
(HF's tokens in hf_greedy.json, when given).
"""
import argparse
import json
import subprocess
from pathlib import Path


def generate(exe, model, draft, prompt, temperature, seed, max_tokens):
    cmd = [exe, "generate", "--model", model, "--draft", draft, "--gamma", "4", f"--prompt={prompt}",
           "--max-tokens", str(max_tokens), "--temperature", str(temperature), "--seed", str(seed), "--json"]
    lines = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.rstrip("\n").split("\n")
    stats = json.loads(lines[-1])
    stats["text"] = "\n".join(lines[:-1])
    return stats


def aggregate(runs):
    drafted = sum(r["drafted_tokens"] for r in runs)
    accepted = sum(r["accepted_tokens"] for r in runs)
    forwards = sum(r["target_forwards"] for r in runs)
    generated = sum(r["generated_tokens"] for r in runs)
    return {"prompts": len(runs), "drafted": drafted, "accepted": accepted,
            "acceptance_rate": round(accepted / drafted, 4), "generated": generated,
            "tokens_per_target_forward": round(generated / forwards, 3),
            "per_prompt_acceptance": [r["acceptance_rate"] for r in runs]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test", type=Path, required=True)
    ap.add_argument("--prompts", type=int, default=10)
    ap.add_argument("--model", default="models/target")
    ap.add_argument("--draft", default="models/draft")
    ap.add_argument("--hf-greedy", type=Path, default=Path("models/training/hf_greedy.json"))
    ap.add_argument("--max-tokens", type=int, default=100)
    ap.add_argument("--specdec", default="bin/specdec")
    args = ap.parse_args()
    docs = args.test.read_text(encoding="utf-8").splitlines()[:args.prompts]
    prompts = [" ".join(d.split()[:8]) for d in docs]
    hf = {r["prompt"]: r["token_ids"] for r in json.loads(args.hf_greedy.read_text())} if args.hf_greedy.exists() else {}
    out = {}
    for temperature in (0, 1):
        runs = []
        for i, prompt in enumerate(prompts):
            r = generate(args.specdec, args.model, args.draft, prompt, temperature, i, args.max_tokens)
            r["prompt"] = prompt
            if temperature == 0 and prompt in hf:
                r["equals_hf_greedy"] = r["token_ids"][:len(hf[prompt])] == hf[prompt]
            runs.append(r)
        key = "greedy" if temperature == 0 else "t1"
        out[key] = aggregate(runs)
        out[key]["acceptance_by_position_mean"] = [
            round(sum(r["acceptance_by_position"][k] for r in runs) / len(runs), 4) for k in range(4)]
        out[key]["runs"] = [{k: r.get(k) for k in ("prompt", "text", "acceptance_rate", "drafted_tokens",
                                                    "accepted_tokens", "generated_tokens", "equals_hf_greedy")}
                            for r in runs]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
