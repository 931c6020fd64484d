#!/usr/bin/env bash
# Mixtures of experts through the front ends, on synth_gguf.py's tinymoe (Mixtral's
# layout) and tinyqmoe (Qwen2-MoE, shared expert): weft info names the experts; weft run
# gives the same greedy text with the experts on disk (--expert-cache-mem, from one expert's
# worth to all) as fully resident; the flag on a dense model is an error naming it; weft
# bench reports load balance and cache traffic (text and JSON); weft serve's /metrics has
# the expert counters and the cache's.
# usage: moe.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
cache="$work/../../synth"
mkdir -p "$work" "$cache"
fail() { echo "FAIL: $*"; [ -f "$work/server.log" ] && tail -n 20 "$work/server.log"; exit 1; }
synth() {  # preset type -> path
  local f="$cache/synth-$1-${2,,}.gguf"
  [ -f "$f" ] || python3 "$shared/tools/synth_gguf.py" --preset "$1" --type "$2" -o "$f" > /dev/null
  echo "$f"
}
moe=$(synth tinymoe Q4_0)
qmoe=$(synth tinyqmoe Q8_0)
dense=$(synth tiny Q8_0)

"$weft" info "$moe" > "$work/info.txt"
grep -q "^experts: *4 per layer, top 2 per token, weights renormalised (expert ffn 256)" "$work/info.txt" ||
  fail "info: $(grep experts "$work/info.txt")"
"$weft" info "$qmoe" | grep -q "8 per layer, top 2 per token (expert ffn 128, shared expert ffn 256)" ||
  fail "info of tinyqmoe"

for m in "$moe" "$qmoe"; do
  "$weft" run "$m" -p "Once upon a time" -n 24 --temp 0 -t 2 2> /dev/null > "$work/resident.txt"
  [ -s "$work/resident.txt" ] || fail "no output from $m"
  for mem in 100K 1M 64M; do
    "$weft" run "$m" -p "Once upon a time" -n 24 --temp 0 -t 2 --expert-cache-mem "$mem" 2> /dev/null > "$work/cached.txt"
    cmp -s "$work/resident.txt" "$work/cached.txt" || fail "$m with --expert-cache-mem $mem: different text"
  done
done

if "$weft" run "$dense" -p x -n 2 --expert-cache-mem 1M 2> "$work/err.txt" > /dev/null; then
  fail "--expert-cache-mem on a dense model was accepted"
fi
grep -q "expert-cache-mem.*no experts" "$work/err.txt" || fail "error: $(cat "$work/err.txt")"

"$weft" bench "$moe" -p 32 -n 8 -r 1 -t 2 --expert-cache-mem 1M > "$work/bench.txt" 2>&1 || fail "bench: $(tail -3 "$work/bench.txt")"
grep -q "^tg8: experts: 4, top 2 | load imbalance (busiest / mean) .* over 2 layers | cache 1.0 MiB of .*% hits" \
  "$work/bench.txt" || fail "bench summary: $(tail -5 "$work/bench.txt")"
"$weft" bench "$moe" -p 32 -n 8 -r 1 -t 2 -o json > "$work/bench.json" 2> /dev/null
python3 - "$work/bench.json" <<'PY' || fail "bench json"
import json, sys
rows = json.load(open(sys.argv[1]))
for r in rows:
    tokens = r["n_prompt"] + r["n_gen"]
    assert len(r["expert_load_imbalance"]) == 2 and len(r["expert_tokens"]) == 2, r
    # one timed run: every token went to 2 of 4 experts in each layer
    assert all(sum(layer) == 2 * tokens for layer in r["expert_tokens"]), r["expert_tokens"]
    assert "expert_cache_hits" not in r  # no cache asked for
PY
"$weft" bench "$moe" --batch 4 --prompt-len 16 --gen-len 8 -t 2 --expert-cache-mem 1M > "$work/batch.txt" 2>&1
grep -q "^experts .*cache 1.0 MiB" "$work/batch.txt" || fail "bench --batch: $(tail -3 "$work/batch.txt")"

# shellcheck source=lib/weft_server.sh
. "$(dirname "$0")/lib/weft_server.sh"
start_weft_server "$qmoe" --expert-cache-mem 2M -t 2
curl -sS --max-time 60 "$base/v1/completions" -H "Content-Type: application/json" \
  -d '{"prompt":"Once upon a time","max_tokens":8,"temperature":0}' > /dev/null || fail "completion"
curl -sS --max-time 10 "$base/metrics" > "$work/metrics.txt"
python3 - "$work/metrics.txt" <<'PY' || fail "metrics: $(grep expert "$work/metrics.txt" | head)"
import re, sys
text = open(sys.argv[1]).read()
routed = [int(v) for v in re.findall(r'^weft_expert_tokens_total\{layer="\d+",expert="\d+"\} (\d+)$', text, re.M)]
assert len(routed) == 2 * 8, len(routed)   # 2 layers x 8 experts
assert sum(routed) > 0 and sum(routed) % 2 == 0
assert len(re.findall(r'^weft_expert_load_imbalance\{layer="\d+"\} ', text, re.M)) == 2
for name in ("hits", "misses", "prefetches"):
    assert re.search(r'^weft_expert_cache_%s_total \d+$' % name, text, re.M), name
assert re.search(r'^weft_expert_cache_capacity_bytes 2097152$', text, re.M)
assert int(re.search(r'^weft_expert_bytes_read_total (\d+)$', text, re.M).group(1)) > 0
PY
echo "moe: ok"
