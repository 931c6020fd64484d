#!/usr/bin/env bash
# --kv-type T and --kv-type K,V (kernels/kv_type.h): q4 and mixed K/V caches run end to end
# (run, perplexity), `weft info --json` lists their bytes per token, and an unknown type in
# either half is refused naming the flag.
# usage: kv_types.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
model="$shared/models/stories260K/stories260K.gguf"

for t in q4 q8,q4 f16,q4 q4,q8; do
  out=$("$weft" run "$model" -p "Once upon a time" -n 24 --temp 0 --kv-type "$t" 2> "$work/run.err") ||
    { cat "$work/run.err"; fail "weft run --kv-type $t"; }
  [ "$(wc -w <<< "$out")" -ge 5 ] || fail "--kv-type $t: too little text: $out"
done

# Perplexity with a q4 cache: finite, and not F16's to the last digit.
ppl() { "$weft" perplexity "$model" -f "$shared/models/text/wiki.test.raw" -c 128 --chunks 8 --kv-type "$1" 2>/dev/null |
  sed -n 's/^Final estimate: PPL = \([0-9.]*\).*/\1/p'; }
p16=$(ppl f16) p4=$(ppl q4) pm=$(ppl q8,q4)
[ -n "$p16" ] && [ -n "$p4" ] && [ -n "$pm" ] || fail "perplexity: f16 '$p16' q4 '$p4' q8,q4 '$pm'"
[ "$p16" != "$p4" ] || fail "q4 perplexity equals f16's ($p4): the q4 cache was not used"
python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if 0.5 * a < b < 2 * a else 1)" "$p16" "$p4" ||
  fail "q4 perplexity $p4 far from f16's $p16"

# Bytes per token: stories260K has 5 layers, 4 KV heads (of 8 heads), head_dim 8 (one scale a row).
"$weft" info "$model" --json > "$work/info.json"
python3 - "$work/info.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
b = j["kv_bytes_per_token"]
c = j["config"]
rows = {"f16": 16, "q8": 8 + 2, "q4": 4 + 2}
per = c["n_layer"] * c["n_head_kv"]
assert b["f16"] == per * 2 * rows["f16"], b
assert b["q4"] == per * 2 * rows["q4"], b
assert b["q8,q4"] == per * (rows["q8"] + rows["q4"]), b
PY

# Unknown types, whole or in one half, are refused naming the flag.
for bad in q5 q8,q5 q4,; do
  if "$weft" run "$model" -p "x" -n 1 --kv-type "$bad" > /dev/null 2> "$work/bad.err"; then fail "--kv-type $bad accepted"; fi
  grep -q -- "--kv-type" "$work/bad.err" || { cat "$work/bad.err"; fail "--kv-type $bad: error does not name the flag"; }
done
echo "kv_types: ok"
