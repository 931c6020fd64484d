#!/usr/bin/env bash
# weft perplexity --stream (StreamingLLM's figure): stories260K (its GGUF context: 2048) fed 900
# tokens of WikiText-2 one at a time under dense attention, a plain window and sinks +
# window; the table, the CSV (one log-perplexity column per policy, buckets covering every
# position) and the SVG (one polyline per policy) are checked, the window policies run in
# a constant number of blocks, a window larger than the text equals dense exactly, and bad
# flags are refused naming the flag.
# usage: perplexity_stream.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
m="$shared/models/stories260K/stories260K.gguf"
text="$shared/models/text/wiki.test.raw"

"$weft" perplexity "$m" -f "$text" -t 2 --stream 900 --stream-policies dense,window,sinks --kv-sinks 4 \
  --kv-window 128 --curve-bucket 100 --curve-csv "$work/c.csv" --curve-svg "$work/c.svg" > "$work/out.txt" \
  2> "$work/err.txt" || { cat "$work/err.txt"; fail "stream run"; }
cat "$work/out.txt"
python3 - "$work/c.csv" "$work/c.svg" "$work/out.txt" <<'PY'
import csv, math, sys
rows = list(csv.reader(open(sys.argv[1])))
assert rows[0] == ["position_begin", "position_end", "logppl dense", "logppl window 128",
                   "logppl sinks 4 + window 128"], rows[0]
body = rows[1:]
assert len(body) == 9, len(body)  # 899 scored positions in buckets of 100
assert body[0][:2] == ["0", "100"] and body[-1][:2] == ["800", "899"], (body[0], body[-1])
for r in body:
    for v in r[2:]:
        assert math.isfinite(float(v)) and 0 < float(v) < 20, r
# Before any eviction (the first 128 + a block positions) the three policies are the same
# computation: identical numbers in the first bucket.
assert body[0][2] == body[0][3] == body[0][4], body[0]
svg = open(sys.argv[2]).read()
assert svg.startswith("<svg") and svg.count("<polyline") == 3, svg[:200]
for name in ["dense", "window 128", "sinks 4 + window 128"]:
    assert name in svg, name
# Blocks: the window policies hold a constant number, dense grows with the text.
# Table rows: policy name, ppl, log-ppl before / after the context, last 1k, blocks, mean kv, s, s.
blocks = {}
for line in open(sys.argv[3]):
    for name in ["dense", "window 128", "sinks 4 + window 128"]:
        if line.startswith(name + " "):
            nums = line[len(name):].split()
            assert len(nums) == 8, line
            assert all(math.isfinite(float(x)) for x in nums), line
            blocks[name.split()[0]] = int(nums[4])
assert len(blocks) == 3, blocks
assert blocks["dense"] >= 900 // 16, blocks
assert blocks["window"] <= 128 // 16 + 2 and blocks["sinks"] <= 1 + 128 // 16 + 2, blocks
PY

# A window larger than the text: the same numbers as dense.
"$weft" perplexity "$m" -f "$text" -t 2 --stream 300 --stream-policies dense,sinks --kv-sinks 4 --kv-window 400 \
  --stream-chunk 7 --curve-bucket 50 --curve-csv "$work/same.csv" > /dev/null 2> "$work/err2.txt" \
  || { cat "$work/err2.txt"; fail "large-window run"; }
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
expect_error "--stream-policies" --stream 100 --stream-policies dense,bogus
expect_error "--kv-window" --stream 100 --stream-policies window
expect_error "--kv-sinks" --stream 100 --stream-policies sinks --kv-window 64
expect_error "--kv-window" --stream 100 --kv-window 3000
expect_error "--kv-window" -c 128 --kv-window 64
echo OK
