#!/usr/bin/env python3
"""Compares specdec with the HuggingFace references that train.py wrote (standard library only).

    python3 tools/train/crosscheck.py --refs DIR --model models/target [--specdec bin/specdec]

DIR holds hf_tokens.json or hf_tokens.json.gz (HF `tokenizers` ids of held-out texts, no BOS) and hf_greedy.json (HF transformers
greedy tokens, 100 steps, f32 compute on the exported bf16 weights). Checks: specdec's tokenizer gives the same ids;
specdec decodes the greedy tokens to HF's text; specdec's greedy decoding (no speculation, --ignore-eos) of the target gives
the same prompt ids and the same 100 tokens. Prints one JSON summary; exit status 1 on any mismatch.
"""
import argparse
import gzip
import json
import subprocess
import sys
from pathlib import Path


def specdec(exe, *args):
    out = subprocess.run([exe, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", type=Path, required=True)
    ap.add_argument("--model", default="models/target")
    ap.add_argument("--specdec", default="bin/specdec")
    ap.add_argument("--skip-tokens", action="store_true")
    args = ap.parse_args()
    report = {"tokenizer": {"texts": 0, "ids_equal": 0, "mismatches": []}, "greedy": []}

    if not args.skip_tokens:
        tokens = args.refs / "hf_tokens.json"
        text = tokens.read_text() if tokens.exists() else gzip.decompress(tokens.with_suffix(".json.gz").read_bytes()).decode()
        for ref in json.loads(text):
            got = specdec(args.specdec, "tokenize", "--tokenizer", args.model, "--json", f"--text={ref['text']}")
            report["tokenizer"]["texts"] += 1
            if got["ids"] == ref["ids"]:
                report["tokenizer"]["ids_equal"] += 1
            else:
                first = next((i for i, (a, b) in enumerate(zip(got["ids"], ref["ids"])) if a != b),
                             min(len(got["ids"]), len(ref["ids"])))
                report["tokenizer"]["mismatches"].append({"text": ref["text"][:80], "first_diff": first})

    for ref in json.loads((args.refs / "hf_greedy.json").read_text()):
        got = specdec(args.specdec, "generate", "--model", args.model, f"--prompt={ref['prompt']}",
                      "--max-tokens", str(len(ref["token_ids"])), "--temperature", "0", "--no-speculation",
                      "--ignore-eos", "--json")
        ids = got["token_ids"]
        prompt_ids = specdec(args.specdec, "tokenize", "--tokenizer", args.model, "--add-bos", "--json",
                             f"--text={ref['prompt']}")["ids"]
        text = subprocess.run([args.specdec, "detokenize", "--tokenizer", args.model, ",".join(map(str, ids))],
                              check=True, capture_output=True, text=True).stdout.removesuffix("\n")
        first = next((i for i, (a, b) in enumerate(zip(ids, ref["token_ids"])) if a != b), None)
        report["greedy"].append({"prompt": ref["prompt"], "equal": ids == ref["token_ids"],
                                 "prompt_ids_equal": prompt_ids == ref["prompt_ids"]
                                 and got["prompt_tokens"] == len(ref["prompt_ids"]),
                                 "decoded_text_equal": text == ref["text"],
                                 "first_diff": first, "hf_min_top2_margin": ref["min_top2_margin"]})

    ok = (report["tokenizer"]["ids_equal"] == report["tokenizer"]["texts"]
          and all(g["equal"] and g["prompt_ids_equal"] and g["decoded_text_equal"] for g in report["greedy"]))
    report["all_equal"] = ok
    print(json.dumps(report, indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
