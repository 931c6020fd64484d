#!/usr/bin/env bash
# KV budgets through the CLI (--kv-budget / --kv-policy, src/kv/kv_budget.h) on stories260K:
#  * weft run --kv-budget generates far past the budget and the context at bounded KV,
#    and reports the evictions; a budget larger than the text is dense's output exactly;
#  * weft run refuses bad flag combinations naming the flag;
#  * weft serve with a default h2o budget serves requests under it, and per-request
#    kv_budget / kv_policy override it; bad values get 400 naming the field;
#    /metrics counts the evictions and no overrun.
# usage: serve_kv_budget.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*"; [ -f "$work/server.log" ] && tail -n 20 "$work/server.log"; exit 1; }
model="$shared/models/stories260K/stories260K.gguf"

# weft run: 600 tokens in a context of 256 under an h2o budget of 64.
"$weft" run "$model" -p "Once upon a time" -n 600 -c 256 --temp 0 --ignore-eos -t 1 --kv-budget 64 --kv-sinks 4 \
  > "$work/run.out" 2> "$work/run.err" || fail "run --kv-budget: $(cat "$work/run.err")"
grep -q "generated 600 tokens" "$work/run.err" || fail "run did not generate 600 tokens: $(cat "$work/run.err")"
line=$(grep "KV budget h2o 64 (sinks 4)" "$work/run.err") || fail "no budget line: $(cat "$work/run.err")"
python3 - "$line" <<'PY' || fail "budget line: $line"
import re, sys
m = re.search(r"(\d+) tokens evicted, at most (\d+) KV positions attended in a step \(budget 64\), peak (\d+) KV blocks", sys.argv[1])
evicted, attended, blocks = map(int, m.groups())
assert evicted >= 500, evicted          # 605 tokens held in at most 64 positions
assert attended == 64, attended         # the budget, used to the full and never passed
assert blocks <= 5, blocks              # 64 / 16 + the block a step may open
PY
# Window policy too, and a budget above the text equals dense.
"$weft" run "$model" -p "Once upon a time" -n 300 -c 256 --temp 0 --ignore-eos -t 1 --kv-budget 48 --kv-policy window \
  > /dev/null 2> "$work/run.err" || fail "run --kv-policy window: $(cat "$work/run.err")"
grep -q "generated 300 tokens" "$work/run.err" || fail "window run length: $(cat "$work/run.err")"
"$weft" run "$model" -p "Once upon a time" -n 100 --temp 0 --ignore-eos -t 1 > "$work/dense.out" 2>/dev/null
"$weft" run "$model" -p "Once upon a time" -n 100 --temp 0 --ignore-eos -t 1 --kv-budget 400 > "$work/big.out" 2>/dev/null
cmp -s "$work/dense.out" "$work/big.out" || fail "a budget above the text changed the output"

# Refusals, each naming its flag.
refuse() {  # refuse FLAG-IN-MESSAGE ARGS...
  local want=$1; shift
  if "$weft" run "$model" -p x -n 4 -t 1 "$@" > /dev/null 2> "$work/err"; then fail "accepted: $*"; fi
  grep -q -- "$want" "$work/err" || fail "refusal of '$*' does not name $want: $(cat "$work/err")"
}
refuse --kv-policy --kv-policy h2o
refuse --kv-budget --kv-budget 20
refuse --kv-budget --kv-budget 64 --kv-window 64
refuse --kv-policy --kv-budget 64 --kv-policy lru
refuse --kv-sinks --kv-budget 64 --kv-policy sinks
refuse --kv-sinks --kv-budget 64 --kv-policy window --kv-sinks 4
refuse --kv-budget --kv-budget 64 --spec ngram

# weft serve with a default budget.
# shellcheck source=lib/weft_server.sh
. "$(dirname "$0")/lib/weft_server.sh"
start_weft_server "$model" --kv-budget 96 --kv-policy h2o --kv-sinks 4 --max-model-len 256 --max-seqs 8 -t 1
json="Content-Type: application/json"
code() { curl -sS --max-time 60 -o "$work/body" -w '%{http_code}' "$@"; }
field() { python3 -c "import json,sys; d=json.load(open('$work/body')); print(eval(sys.argv[1]))" "$1"; }
ok() {  # ok TOKENS JSON-FIELDS: a greedy completion of TOKENS tokens must come back whole
  local n=$1 extra=$2
  [ "$(code "$base/v1/completions" -H "$json" \
    -d "{\"prompt\":\"Once upon a time\",\"max_tokens\":$n,\"temperature\":0,\"ignore_eos\":true$extra}")" = 200 ] \
    || fail "status for $extra: $(head -c 300 "$work/body")"
  [ "$(field 'd["usage"]["completion_tokens"]')" = "$n" ] || fail "length for $extra: $(head -c 300 "$work/body")"
}
ok 400 ""                                        # the server's h2o 96, past the context of 256
ok 300 ',"kv_budget":64,"kv_policy":"window"'
ok 300 ',"kv_budget":48,"kv_policy":"sinks","kv_sinks":8'
ok 300 ',"kv_policy":"h2o","kv_budget":40,"kv_sinks":0'
ok 100 ',"kv_budget":0'                          # dense for this request
err() {  # err PARAM JSON-FIELDS
  local want=$1 extra=$2
  local got; got=$(code "$base/v1/completions" -H "$json" -d "{\"prompt\":\"Once upon a time\",\"max_tokens\":8$extra}")
  [ "$got" = 400 ] || fail "want 400 for $extra, got $got: $(head -c 300 "$work/body")"
  python3 -c "import json; e=json.load(open('$work/body'))['error']; assert e['param'] == '$want', e" \
    || fail "error for $extra does not name $want: $(cat "$work/body")"
}
err kv_policy ',"kv_policy":"lru"'
err kv_policy ',"kv_policy":7'
err kv_budget ',"kv_budget":-1'
err kv_budget ',"kv_budget":"many"'
err kv_budget ',"kv_budget":10'
err kv_budget ',"kv_budget":1000'
err kv_policy ',"kv_budget":0,"kv_policy":"h2o"'
err kv_budget ',"kv_budget":64,"kv_window":64'
err kv_sinks ',"kv_budget":64,"kv_policy":"sinks","kv_sinks":0'
err n ',"n":2,"temperature":1'
curl -sS --max-time 10 "$base/metrics" > "$work/metrics"
python3 - "$work/metrics" <<'PY' || fail "metrics: $(grep kv_ "$work/metrics")"
import sys
vals = {}
for line in open(sys.argv[1]):
    if line.startswith("weft_kv_"):
        name, v = line.replace("{", " ").split()[0], float(line.rsplit(" ", 1)[1])
        vals[name] = v
assert vals["weft_kv_window_evicted_tokens_total"] > 900, vals
assert vals["weft_kv_budget_overruns_total"] == 0, vals
assert vals["weft_kv_budget_peak_tokens"] == 96, vals
PY
echo "serve_kv_budget: OK"
