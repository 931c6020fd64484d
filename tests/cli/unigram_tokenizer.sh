#!/usr/bin/env bash
# The Unigram tokenizer (tokenizer/unigram.cc) against two independent implementations:
# tokenizers.js (@lenml/tokenizers, installed with the @lenml packages by
# tests/lenml/setup.sh) and a plain-Python one (tests/tools/unigram_ref.py, HF semantics).
# Two SentencePiece-Unigram tokenizer.json files learnt from wiki.test.raw by
# tests/tools/make_unigram_tokenizer.py (Metaspace, NFKC, ~4000 pieces scored by log
# frequency; some characters left out: fused unknowns, and in the second file byte
# fallback), on the 59 texts of ../shared/golden/tokenizer/cases.inp and a longer text
# (the first 20 kB of the corpus) as one more case: weft's ids must equal both references'
# for every text. tokenizers.js has no Unigram byte fallback (it gives unk), so the second
# file is held to the Python pass only; the two references agree on the first.
# usage: unigram_tokenizer.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
here=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "FAIL: $*"; exit 1; }
command -v node > /dev/null || fail "node is not installed (scripts/install-deps.sh installs it)"
[ -d "$here/lenml/node_modules/@lenml/tokenizers" ] || fail "tests/lenml/node_modules is missing: run tests/lenml/setup.sh"
mkdir -p "$work"
corpus="$shared/models/text/wiki.test.raw"
cases="$work/cases.inp"
{ cat "$shared/golden/tokenizer/cases.inp"; printf '\n__ggml_vocab_test__\n'; head -c 20000 "$corpus"; echo; } > "$cases"
n_cases=$(python3 -c "import sys; t=open(sys.argv[1],encoding='utf-8').read(); print(len(t[:-1].split('\n__ggml_vocab_test__\n')))" "$cases")
[ "$n_cases" -ge 60 ] || fail "only $n_cases cases"
for variant in plain byte-fallback; do
  dir="$work/unigram-$variant"
  flag=(); [ "$variant" = byte-fallback ] && flag=(--byte-fallback)
  python3 "$here/tools/make_unigram_tokenizer.py" "$corpus" "$dir" "${flag[@]}"
  python3 "$here/tools/unigram_ref.py" "$dir" "$cases" > "$work/$variant.expected"
  [ "$(wc -l < "$work/$variant.expected")" = "$n_cases" ] || fail "$variant: unigram_ref.py gave $(wc -l < "$work/$variant.expected") lines for $n_cases cases"
  if [ "$variant" = plain ]; then
    (cd "$here/lenml" && node tokenize_cases.mjs "$dir" "$cases") > "$work/$variant.js"
    diff -q "$work/$variant.js" "$work/$variant.expected" > /dev/null ||
      fail "the two references disagree on $variant: diff $work/$variant.js $work/$variant.expected"
  fi
  python3 - "$cases" "$work/case" <<'PY'
import sys
t = open(sys.argv[1], encoding="utf-8").read()[:-1]
for i, c in enumerate(t.split("\n__ggml_vocab_test__\n")):
    open("%s.%d" % (sys.argv[2], i), "w", encoding="utf-8").write(c)
PY
  : > "$work/$variant.got"
  for ((i = 0; i < n_cases; i++)); do
    "$weft" tokenize "$dir" --file "$work/case.$i" --ids --no-special >> "$work/$variant.got" 2> "$work/$variant.err" ||
      { cat "$work/$variant.err"; fail "$variant: weft tokenize failed on case $i"; }
  done
  if ! diff <(sed 's/ *$//' "$work/$variant.expected") <(sed 's/ *$//' "$work/$variant.got") > "$work/$variant.diff"; then
    head -20 "$work/$variant.diff"
    fail "$variant: weft's ids differ from the references' ($(grep -c '^<' "$work/$variant.diff") cases)"
  fi
  echo "ok $variant: $n_cases cases equal"
done
# The unknown-character paths really ran: a left-out character is unk in one file and
# bytes in the other.
grep -qw 2 "$work/plain.got" || fail "no unknown token in the plain variant's output"
! grep -qw 2 "$work/byte-fallback.got" || fail "byte-fallback variant produced the unknown token"
echo "unigram_tokenizer: all cases equal the references"
