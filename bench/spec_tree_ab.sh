#!/usr/bin/env bash
# Token trees A/B/C: runs `weft bench MODEL --spec tree:...` R times (each run times the
# same workload without speculation, with the tree, then with the chain of the same
# proposer and depth, in one process) and prints the median and the spread (min..max) of
# decode tok/s, tokens per target pass and nodes verified per pass for each.
#   bench/spec_tree_ab.sh WEFT MODEL SPEC R [weft bench flags...]
# e.g. bench/spec_tree_ab.sh build/release/bin/weft ../shared/models/stories260K/stories260K.gguf \
#        tree:ngram:4:16 5 --batch 1 --gen-len 256 --prompt-file bench/prompts/copy_story.txt -t 2
set -euo pipefail
weft=$1 model=$2 spec=$3 reps=$4
shift 4
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((i = 0; i < reps; i++)); do
  "$weft" bench "$model" --spec "$spec" "$@" 2>/dev/null | grep '^--- token tree' >>"$out"
done
python3 - "$out" <<'PY'
import re, statistics, sys
rows = open(sys.argv[1]).read().splitlines()
def col(rx):
    return [float(re.search(rx, r).group(1)) for r in rows]
num = r"([\d.]+)"
for name, rx in [("decode tok/s, tree", r"decode tokens/s " + num + " vs"),
                 ("decode tok/s, chain", r"decode tokens/s [\d.]+ vs " + num),
                 ("decode tok/s, plain", r"decode tokens/s [\d.]+ vs [\d.]+ vs " + num),
                 ("tokens/pass, tree", r"tokens per target pass " + num),
                 ("tokens/pass, chain", r"tokens per target pass [\d.]+ vs " + num),
                 ("nodes/pass, tree", r"nodes verified per pass " + num),
                 ("nodes/pass, chain", r"nodes verified per pass [\d.]+ vs " + num)]:
    v = col(rx)
    print(f"{name:22s} median {statistics.median(v):9.2f}  min {min(v):9.2f}  max {max(v):9.2f}  (n={len(v)})")
tree = col(r"decode tokens/s " + num + " vs")
chain = col(r"decode tokens/s [\d.]+ vs " + num)
plain = col(r"decode tokens/s [\d.]+ vs [\d.]+ vs " + num)
for name, a, b in [("tree / plain", tree, plain), ("chain / plain", chain, plain), ("tree / chain", tree, chain)]:
    r = [x / y for x, y in zip(a, b) if y > 0]
    print(f"{name:22s} median {statistics.median(r):9.2f}x min {min(r):8.2f}x max {max(r):8.2f}x (per run)")
PY
