#!/usr/bin/env bash
# weft perplexity --stream --kv-budget (heavy hitters, kv/kv_budget.h) on stories260K: 300
# tokens of WikiText-2 under h2o (blocks of 16), h2o-token (block size 1), window and
# sinks + window at a budget of 64, plus dense. Checks the table (every policy stays within
# the budget on average, the windows and h2o hold a bounded number of blocks), the CSV (the
# first bucket, before any eviction, is the same for every policy), a budget above the text
# equal to dense exactly, and the refusals naming the flag.
# usage: perplexity_h2o.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
m="$shared/models/stories260K/stories260K.gguf"
text="$shared/models/text/wiki.test.raw"

"$weft" perplexity "$m" -f "$text" -t 2 --stream 300 --kv-budget 64 --kv-sinks 4 \
  --stream-policies dense,h2o,h2o-token,window,sinks --curve-bucket 50 --curve-csv "$work/c.csv" \
  > "$work/out.txt" 2> "$work/err.txt" || { cat "$work/err.txt"; fail "budget run"; }
cat "$work/out.txt"
python3 - "$work/c.csv" "$work/out.txt" <<'PY'
import csv, math, sys
rows = list(csv.reader(open(sys.argv[1])))
names = ["dense", "h2o 64 (sinks 4) blocks of 16", "h2o 64 (sinks 4) token-level", "window at 64",
         "sinks 4 + window at 64"]
assert rows[0] == ["position_begin", "position_end"] + ["logppl " + n for n in names], rows[0]
body = rows[1:]
assert len(body) == 6, len(body)
assert len(set(body[0][2:])) == 1, body[0]  # positions 0-49: nothing evicted yet anywhere
for r in body:
    assert all(math.isfinite(float(v)) and 0 < float(v) < 20 for v in r[2:]), r
seen = {}
for line in open(sys.argv[2]).read().splitlines()[1:]:
    f = line.split()
    seen[" ".join(f[:-8])] = [float(x) for x in f[-8:]]
assert sorted(seen) == sorted(names), seen.keys()
for n in names[1:]:
    blocks, mean_kv = seen[n][4], seen[n][5]
    assert mean_kv <= 64, (n, mean_kv)
    assert blocks <= (64 if "token" in n else 4), (n, blocks)
assert seen["dense"][5] > 140, seen["dense"]
PY

# A budget above the text: h2o evicts nothing and equals dense.
"$weft" perplexity "$m" -f "$text" -t 2 --stream 200 --kv-budget 400 --stream-policies dense,h2o \
  --curve-bucket 50 --curve-csv "$work/same.csv" > /dev/null 2> "$work/err2.txt" || { cat "$work/err2.txt"; fail "big budget"; }
python3 - "$work/same.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))[1:]
assert rows and all(r[2] == r[3] for r in rows), rows
PY

expect_error() {  # expect_error PATTERN ARGS...: exit 1 and PATTERN in stderr
  local pat=$1; shift
  if "$weft" perplexity "$m" -f "$text" "$@" > /dev/null 2> "$work/e.txt"; then fail "accepted: $*"; fi
  grep -q -- "$pat" "$work/e.txt" || { cat "$work/e.txt"; fail "no '$pat' for: $*"; }
}
expect_error "--kv-budget" --stream 100 --kv-budget 40 --kv-sinks 4            # below sinks + step + 2 (B - 1)
expect_error "--kv-budget" --stream 100 --kv-budget 16 --kv-policy window      # no room for a window
expect_error "--kv-sinks" --stream 100 --kv-budget 64 --kv-policy sinks        # sinks without --kv-sinks
expect_error "--kv-policy" --stream 100 --kv-budget 64 --kv-policy lru
expect_error "--kv-policy" --stream 100 --kv-policy h2o                        # no budget
expect_error "--kv-policy" --stream 100 --kv-budget 64 --kv-policy h2o --stream-policies h2o,window
expect_error "--kv-window" --stream 100 --kv-budget 64 --kv-window 32
expect_error "--kv-budget" --stream-policies h2o --stream 100                  # h2o in the list needs a budget
expect_error "--kv-budget" -c 128 --kv-budget 64                               # not streaming
expect_error "--kv-block-size" --stream 100 --kv-budget 64 --kv-block-size 0
expect_error "--kv-budget" --stream 100 --kv-budget 4096                       # past the context
echo OK
