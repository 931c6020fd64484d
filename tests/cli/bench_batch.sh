#!/usr/bin/env bash
# weft bench --batch: counts, prefix hits with a shared prefix, preemptions with a tiny
# KV cache, per-request JSON.
# usage: bench_batch.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
m="$shared/models/stories260K/stories260K.gguf"

"$weft" bench "$m" --batch 12 --prompt-len 40 --gen-len 20 --shared-prefix 64 --json "$work/b.json" > "$work/b.txt" 2>/dev/null
grep -q "^requests               12 in" "$work/b.txt" || { cat "$work/b.txt"; fail "request count"; }
grep -q "^generated tokens/s .*(240 tokens)" "$work/b.txt" || { cat "$work/b.txt"; fail "generated tokens"; }
python3 - "$work/b.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["requests"] == 12 and len(j["ttft_ms"]) == 12 and len(j["tpot_ms"]) == 12, j
assert j["generated_tokens"] == 240, j["generated_tokens"]
assert j["prefix_hit_rate"] > 0.3, j["prefix_hit_rate"]   # 11 of 12 reuse the 64-token prefix
assert all(t > 0 for t in j["ttft_ms"]) and all(e >= t for e, t in zip(j["e2e_ms"], j["ttft_ms"]))
# 20 tokens each, the first sampled in a prefill step: pure decode steps follow the
# last prefill (how many depends on when the submissions reach the engine loop).
assert j["decode_steps"] >= 10 and j["decode_tokens_per_s"] > 0, j
PY
grep -qE "^decode tokens/s +[0-9.]+ +\([0-9]+ tokens in [0-9]+ steps" "$work/b.txt" || { cat "$work/b.txt"; fail "decode line"; }
# A cache of 6 blocks (96 tokens) for 8 requests of 60 tokens: preemption must happen,
# and every request still completes.
"$weft" bench "$m" --batch 8 --prompt-len 40 --gen-len 20 --dist lognormal --seed 3 > /dev/null 2>&1 \
  || fail "lognormal run"
# stories260K: a 16-token block is 16 x (K,V) x 5 layers x 4 KV heads x 8 dims x 2 bytes
# = 10 KiB, so 60K holds 6 blocks (96 tokens) for 8 requests of 60 tokens.
"$weft" bench "$m" --batch 8 --prompt-len 40 --gen-len 20 --kv-cache-mem 60K --no-prefix-caching > "$work/p.txt" 2>/dev/null
grep -q "^generated tokens/s .*(160 tokens)" "$work/p.txt" || { cat "$work/p.txt"; fail "tokens under pressure"; }
grep -qE "^preemptions +[1-9]" "$work/p.txt" || { cat "$work/p.txt"; fail "no preemption with 6 blocks"; }
if "$weft" bench "$m" --kv-cache-mem lots 2> "$work/err.txt"; then fail "bad size accepted"; fi
grep -q "not a size" "$work/err.txt" || fail "bad size message"
echo "bench_batch: counts, prefix hits, preemption and JSON check out"
