#!/usr/bin/env bash
# --spec tree:ngram|draft:MODEL|staged:MODEL|self:LAYERS[:K[:NODES]] (token trees) and staged:MODEL: `weft run` prints the same greedy text as
# without speculation, for two KV types, and its summary reports the tree (nodes and
# accepted tokens per target pass); `weft bench --spec tree:...` compares tree, chain and
# plain in one report; trees from a draft model and from self-drafting keep the text; an
# unknown tree proposer and a bad node budget are refused with the flag named.
# usage: spec_tree.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
model="$shared/models/stories260K/stories260K.gguf"
prompt="The cat sat on the mat. The dog sat on the rug. The cat sat on the mat. The dog sat on the rug. The cat sat on the"

for t in f16 q4; do
  plain=$("$weft" run "$model" -p "$prompt" -n 48 --temp 0 --ignore-eos --kv-type "$t" 2>/dev/null) || fail "plain run"
  tree=$("$weft" run "$model" -p "$prompt" -n 48 --temp 0 --ignore-eos --kv-type "$t" --spec tree:ngram:4:16 \
    2> "$work/tree.err") || { cat "$work/tree.err"; fail "tree run"; }
  [ "$plain" = "$tree" ] || fail "--kv-type $t: the tree changed the greedy text: '$plain' vs '$tree'"
  grep -q "speculative decoding tree:ngram:4:16" "$work/tree.err" || { cat "$work/tree.err"; fail "summary line"; }
  grep -qE "token trees: [0-9.]+ nodes verified per target pass, [0-9.]+ accepted per pass" "$work/tree.err" ||
    { cat "$work/tree.err"; fail "tree summary line"; }
done

src=$(cd "$(dirname "$0")/../.." && pwd)
"$weft" bench "$model" --spec tree:ngram:4:16 --batch 1 --gen-len 48 --prompt-file "$src/bench/prompts/copy_story.txt" \
  -t 2 > "$work/bench.txt" 2>/dev/null || fail "bench"
grep -qE "^--- token tree tree:ngram:4:16 vs chain ngram:4 vs plain: decode tokens/s" "$work/bench.txt" ||
  { cat "$work/bench.txt"; fail "bench three-way line"; }

# A tree from a draft model (here its Q8_0 file drafting for the F32 one) and from the
# target with a layer skipped: the same greedy text, and the summary names the tree.
q8="$shared/models/stories260K/tinyllamas-stories-260k-q8_0.gguf"
plain=$("$weft" run "$model" -p "$prompt" -n 48 --temp 0 --ignore-eos 2>/dev/null) || fail "plain run"
for spec in "tree:draft:$q8:4:12" "tree:self:2:4:12" "tree:staged:$q8:4:12" "staged:$q8:6"; do
  tree=$("$weft" run "$model" -p "$prompt" -n 48 --temp 0 --ignore-eos --spec "$spec" \
    2> "$work/tree.err") || { cat "$work/tree.err"; fail "$spec run"; }
  [ "$plain" = "$tree" ] || fail "$spec changed the greedy text: '$plain' vs '$tree'"
  case "$spec" in
    tree:*) grep -qE "token trees: [0-9.]+ nodes verified per target pass" "$work/tree.err" ||
              { cat "$work/tree.err"; fail "$spec tree summary line"; } ;;
  esac
done
# Staged speculation: weft bench reports the draft's passes and the confirmed guesses.
"$weft" bench "$model" --spec "staged:$q8:8" --batch 1 --gen-len 48 --prompt-file "$src/bench/prompts/copy_story.txt" \
  -t 2 > "$work/staged.txt" 2>/dev/null || fail "staged bench"
grep -qE "^draft model +[0-9]+ forward passes \([0-9.]+ per target pass\); staged: [0-9]+ n-gram guesses computed, [0-9]+ confirmed" \
  "$work/staged.txt" || { cat "$work/staged.txt"; fail "staged bench line"; }
if "$weft" run "$model" -p hi -n 4 --spec tree:beam:4 2> "$work/err.txt"; then fail "tree:beam accepted"; fi
grep -q -- "--spec" "$work/err.txt" && grep -q "tree:draft:MODEL" "$work/err.txt" || { cat "$work/err.txt"; fail "tree:beam message"; }
if "$weft" run "$model" -p hi -n 4 --spec tree:ngram:4:99 2> "$work/err.txt"; then fail "99 nodes accepted"; fi
grep -q "node budget" "$work/err.txt" || { cat "$work/err.txt"; fail "node budget message"; }
echo "spec_tree: same text with trees, summary and bench lines, errors name the flag"
