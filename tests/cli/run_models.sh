#!/usr/bin/env bash
# weft run / logits / perplexity end to end on the real models in ../shared/models.
# usage: run_models.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
golden="$shared/golden/real"

# Greedy stories260K reproduces the reference continuation exactly. (The golden's
# ref_greedy_text stops at the first newline; its 64 ref_greedy_tokens go on with
# "\nLily's mom said", which tests/unit/model checks token by token.)
want=$(python3 -c "import json; print(json.load(open('$golden/index.json'))['stories260K']['cases'][0]['ref_greedy_text'])")
got=$("$weft" run "$shared/models/stories260K/stories260K.gguf" -p "Once upon a time" -n 64 --temp 0 2> "$work/run.err")
[ "$(head -n 1 <<< "$got")" = "$want" ] || { echo "got:  $got"; echo "want: $want"; fail "greedy stories260K text"; }
[ "$(sed -n 2p <<< "$got")" = "Lily's mom said" ] || fail "greedy stories260K second line: $got"
grep -q "prompt 5 tokens" "$work/run.err" || { cat "$work/run.err"; fail "summary line"; }
grep -q "time to first token" "$work/run.err" || fail "no TTFT in summary"

# Same seed, same text; --quiet has no summary; --echo prints the prompt first.
a=$("$weft" run tinyllama-v0 -p "Tom had a dog" -n 30 --seed 7 --quiet 2> "$work/q.err")
b=$("$weft" run tinyllama-v0 -p "Tom had a dog" -n 30 --seed 7 --quiet 2>/dev/null)
[ "$a" = "$b" ] || fail "seeded runs differ"
[ ! -s "$work/q.err" ] || fail "--quiet printed: $(cat "$work/q.err")"
[ -n "$a" ] || fail "empty generation"
e=$("$weft" run tinyllama-v0 -p "Tom had a dog" -n 5 --seed 7 --quiet --echo)
[[ "$e" == "Tom had a dog"* ]] || fail "--echo does not start with the prompt: $e"

# --stop cuts the text before the stop string and never prints it.
s=$("$weft" run "$shared/models/stories260K/stories260K.gguf" -p "Once upon a time" -n 64 --temp 0 --stop "Lily" -q)
[ "$s" = ", there was a little girl named " ] || fail "stop string: '$s'"

# Errors: one line, non-zero exit.
long=$(python3 -c "print('word ' * 3000)")
if "$weft" run "$shared/models/stories260K/stories260K.gguf" -p "$long" -n 4 2> "$work/err.txt"; then fail "over-long prompt accepted"; fi
grep -q "context" "$work/err.txt" || { cat "$work/err.txt"; fail "over-long prompt message"; }
if "$weft" run no-such-model -p hi 2> "$work/err.txt"; then fail "missing model accepted"; fi
[ "$(wc -l < "$work/err.txt")" -eq 1 ] || fail "missing model: not one line"
if "$weft" run tinyllama-v0 -p hi --top-p 0 2> "$work/err.txt"; then fail "bad top-p accepted"; fi
grep -q "top_p" "$work/err.txt" || fail "bad top-p message: $(cat "$work/err.txt")"

# weft logits writes WGLD v2 that matches the golden within llama.cpp's own distance.
python3 - "$golden/TinyLLama-v0.Q4_0.p1.ref.logits" "$work/ids.txt" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
_, _, nv, nt, nk = struct.unpack_from('<5I', b, 0)
toks = struct.unpack_from('<%dI' % nt, b, 20)
keep = struct.unpack_from('<%dI' % nk, b, 20 + 4 * nt)
open(sys.argv[2], 'w').write(' '.join(map(str, toks)) + '\n')
open(sys.argv[2] + '.keep', 'w').write(' '.join(map(str, keep)))
PY
"$weft" logits tinyllama-v0 --tokens "$work/ids.txt" --positions $(cat "$work/ids.txt.keep") --out "$work/w.logits" 2> /dev/null
python3 - "$work/w.logits" "$golden/TinyLLama-v0.Q4_0.p1.ref.logits" <<'PY'
import struct, sys, array
def read(p):
    b = open(p, 'rb').read()
    magic, ver, nv, nt, nk = struct.unpack_from('<5I', b, 0)
    assert magic == 0x444c4757 and ver == 2, (magic, ver)
    o = 20 + 4 * nt
    keep = struct.unpack_from('<%dI' % nk, b, o)
    a = array.array('f'); a.frombytes(b[o + 4 * nk:])
    return nv, struct.unpack_from('<%dI' % nt, b, 20), keep, a
w, r = read(sys.argv[1]), read(sys.argv[2])
assert w[:3] == r[:3], "tokens/positions differ"
m = max(abs(x - y) for x, y in zip(w[3], r[3]))
assert len(w[3]) == len(r[3]) and m < 0.2, m
print("logits max diff vs reference: %.4f" % m)
PY

rm -f "$work/base.kl"  # a base from an earlier run would be compared, not written
# weft perplexity: a finite estimate on a few chunks, KL base written then compared
# (the same model against itself: KL 0, top-1 agreement 100%).
"$weft" perplexity stories260K/stories260K.gguf -f "$shared/models/text/wiki.test.raw" -c 128 --chunks 4 \
  --kl-base "$work/base.kl" > "$work/ppl1.txt" 2> /dev/null
grep -qE "^perplexity: [0-9]+\.[0-9]+ \+/- " "$work/ppl1.txt" || fail "perplexity output: $(cat "$work/ppl1.txt")"
"$weft" perplexity stories260K/stories260K.gguf -f "$shared/models/text/wiki.test.raw" -c 128 --chunks 4 \
  --kl-base "$work/base.kl" > "$work/ppl2.txt" 2> /dev/null
grep -q "top-1 agreement 100.00%" "$work/ppl2.txt" || fail "KL self-compare: $(cat "$work/ppl2.txt")"
# The base stores log-probabilities as F16, so a self-compare is 0 only to ~1e-3 nats.
python3 -c "
import re, sys
m = re.search(r'mean (-?[0-9.]+), max ([0-9.]+)', open('$work/ppl2.txt').read())
assert m and abs(float(m.group(1))) < 1e-3 and float(m.group(2)) < 1e-2, m and m.groups()
" || fail "KL self-compare not ~0: $(cat "$work/ppl2.txt")"
if "$weft" perplexity stories260K/stories260K.gguf -f "$shared/models/text/wiki.test.raw" -c 64 --chunks 2 \
  --kl-base "$work/base.kl" 2> "$work/err.txt"; then fail "KL base with another -c accepted"; fi
grep -q "made with" "$work/err.txt" || fail "KL mismatch message: $(cat "$work/err.txt")"

# llama-perplexity's figures (128-token chunks, first 200, BOS handling as theirs):
# stories260K 128.99, TinyLLama-v0 Q4_0 7354; weft must be within 0.5 %.
check_ppl() {  # model want
  "$weft" perplexity "$1" -f "$shared/models/text/wiki.test.raw" -c 128 --chunks 200 > "$work/ppl.txt" 2> /dev/null
  python3 -c "
import re
got = float(re.search(r'^perplexity: ([0-9.]+)', open('$work/ppl.txt').read()).group(1))
assert abs(got / $2 - 1) <= 0.005, (got, $2)
print('perplexity $1: %.4f (llama.cpp $2)' % got)
" || fail "perplexity of $1: $(cat "$work/ppl.txt")"
}
check_ppl stories260K/stories260K.gguf 128.99
check_ppl tinyllama-v0 7354
echo "run_models: run, logits and perplexity work end to end"
