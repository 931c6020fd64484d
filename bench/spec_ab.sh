#!/usr/bin/env bash
# Speculative decoding A/B: runs `weft bench MODEL --spec SPEC` R times (each run times the
# same workload without, then with speculation, in one process) and prints the median and
# the spread (min..max) of the decode speedup, the generated-tokens/s speedup and the
# tokens per target pass.
#   bench/spec_ab.sh WEFT MODEL SPEC R [weft bench flags...]
# e.g. bench/spec_ab.sh build/release/bin/weft ../shared/models/stories260K/stories260K.gguf \
#        ngram:4 5 --batch 1 --gen-len 128 --prompt-file bench/prompts/copy_story.txt -t 2
set -euo pipefail
weft=$1 model=$2 spec=$3 reps=$4
shift 4
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((i = 0; i < reps; i++)); do
  "$weft" bench "$model" --spec "$spec" "$@" 2>/dev/null | grep '^--- speculative decoding' >>"$out"
done
python3 - "$out" <<'PY'
import re, statistics, sys
rows = open(sys.argv[1]).read().splitlines()
def col(rx):
    return [float(re.search(rx, r).group(1)) for r in rows]
for name, rx in [("generated tok/s, spec", r"generated tokens/s ([\d.]+) vs"),
                 ("generated tok/s, plain", r"generated tokens/s [\d.]+ vs ([\d.]+)"),
                 ("generated speedup", r"\(([\d.]+)x\), decode"),
                 ("decode tok/s, spec", r"decode tokens/s ([\d.]+) vs"),
                 ("decode tok/s, plain", r"decode tokens/s [\d.]+ vs ([\d.]+)"),
                 ("decode speedup", r"decode tokens/s [\d.]+ vs [\d.]+ \(([\d.]+)x\)"),
                 ("acceptance %", r"acceptance ([\d.]+)%"),
                 ("tokens per target pass", r"([\d.]+) tokens per target pass")]:
    v = col(rx)
    print(f"{name:24s} median {statistics.median(v):8.2f}  min {min(v):8.2f}  max {max(v):8.2f}  (n={len(v)})")
PY
