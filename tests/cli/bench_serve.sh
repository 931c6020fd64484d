#!/usr/bin/env bash
# weft bench serve against weft serve on loopback with stories260K: fixed, lognormal,
# shared-prefix and JSONL workloads; concurrency sweeps and Poisson arrivals; completions
# and chat; request counts, zero errors, the server's own token counts, error classes,
# the HTML report's numbers equal to the JSON's, and Ctrl-C writing what finished.
# usage: bench_serve.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
fail() { echo "FAIL: $*"; [ -f "$work/server.log" ] && tail -n 20 "$work/server.log"; exit 1; }
# shellcheck source=lib/weft_server.sh
. "$here/lib/weft_server.sh"
check() { python3 "$here/lib/check_report.py" "$@" || fail "report check: $*"; }
# A sample's value by its name and labels as written, or by its name alone (any labels).
metric() { curl -s -H "Authorization: Bearer $key" "$base/metrics" | awk -v m="$1" '{n = $1; sub(/[{].*/, "", n)} $1 == m || n == m {print $2}'; }
key=bench-key
start_weft_server "$shared/models/stories260K/stories260K.gguf" --api-key "$key" -t 1 --max-seqs 16 \
  --chat-template "$shared/models/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja"
b() { "$weft" bench serve --url "$base" --api-key "$key" "$@"; }

# A concurrency sweep of fixed lengths: 2 passes of 12, 8 tokens each (ignore_eos), the
# server's count of generated tokens equal to the client's.
gen0=$(metric vllm:generation_tokens_total)
b -n 12 -c 1,4 --prompt-len 24 --output-len 8 --slo ttft=10s,tpot=5s --json "$work/fixed.json" --html "$work/fixed.html" \
  > "$work/fixed.txt" 2> "$work/fixed.err" || { cat "$work/fixed.err"; fail "fixed sweep"; }
check "$work/fixed.json" "$work/fixed.html" 2 12
gen1=$(metric vllm:generation_tokens_total)
python3 - "$work/fixed.json" "$gen0" "$gen1" <<'PY' || fail "fixed sweep numbers"
import json, sys
j = json.load(open(sys.argv[1]))
assert [p["label"] for p in j["passes"]] == ["concurrency 1", "concurrency 4"], j["passes"]
total = 0
for p in j["passes"]:
    s = p["summary"]
    assert s["completed"] == 12 and s["failed"] == 0 and s["errors"] == {}, s
    assert s["output_tokens"] == 96 and s["token_counts"] == "usage", s
    assert all(r["output_tokens"] == 8 and r["finish_reason"] == "length" for r in p["requests"])
    assert s["slo_met"] == 12 and s["goodput"] == s["request_throughput"], s
    assert s["client_cpu_s"] >= 0 and s["ttft_ms"]["p50"] > 0 and s["tpot_ms"]["count"] == 12, s
    total += s["output_tokens"]
assert total == int(sys.argv[3]) - int(sys.argv[2]), (total, sys.argv[2:])  # the server generated as many
assert j["passes"][1]["summary"]["mean_in_flight"] > 1.5, j["passes"][1]["summary"]
assert j["config"]["model"].endswith("stories260K.gguf"), j["config"]  # the server's first model
PY
grep -q "^== concurrency 4 ==" "$work/fixed.txt" || fail "table: pass header"
grep -qE "^requests +12 completed, 0 failed, 0 cancelled of 12 sent" "$work/fixed.txt" || fail "table: counts"
grep -qE "^concurrency 4 +12 +0 " "$work/fixed.txt" || fail "table: sweep row"
# The table shows the JSON's numbers.
python3 - "$work/fixed.json" "$work/fixed.txt" <<'PY' || fail "table numbers"
import json, sys
j, t = json.load(open(sys.argv[1])), open(sys.argv[2]).read()
for p in j["passes"]:
    s = p["summary"]
    assert f"{s['request_throughput']:.2f} req/s" in t and f"p99 {s['e2e_ms']['p99']:9.2f}" in t, p["label"]
PY

# --report-from redraws the same report and tables from the JSON alone.
"$weft" bench serve --report-from "$work/fixed.json" --html "$work/again.html" > "$work/again.txt" 2> /dev/null \
  || fail "--report-from"
cmp -s "$work/fixed.html" "$work/again.html" || fail "--report-from: another HTML"
diff <(grep -v "^client CPU" "$work/fixed.txt") <(grep -v "^client CPU" "$work/again.txt") > /dev/null \
  || fail "--report-from: other tables"

# Poisson arrivals, lognormal lengths: the schedule's mean rate, every request sent at or
# after its time.
b -n 16 --request-rate 40 --workload lognormal --prompt-len 16 --output-len 6 --seed 5 --json "$work/poisson.json" \
  --html "$work/poisson.html" > /dev/null 2>&1 || fail "poisson"
check "$work/poisson.json" "$work/poisson.html" 1 16
python3 - "$work/poisson.json" <<'PY' || fail "poisson numbers"
import json, sys
p = json.load(open(sys.argv[1]))["passes"][0]
assert p["label"] == "rate 40/s" and p["request_rate"] == 40 and p["summary"]["failed"] == 0, p["summary"]
r = p["requests"]
assert all(x["send_s"] >= x["scheduled_s"] - 1e-3 for x in r)
assert 0 < r[-1]["scheduled_s"] < 3 and len({x["output_tokens"] for x in r}) > 1, r[-1]
PY

# A shared system prompt: the server's prefix cache hits.
hits0=$(metric vllm:prefix_cache_hits_total)
b -n 8 -c 2 --workload shared-prefix --prefix-len 80 --prompt-len 8 --output-len 4 --json "$work/prefix.json" \
  > /dev/null 2>&1 || fail "shared prefix"
hits1=$(metric vllm:prefix_cache_hits_total)
[ "$hits1" -gt "$hits0" ] || fail "no prefix cache hits ($hits0 -> $hits1)"
python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['passes'][0]['summary']; assert s['completed']==8 and s['failed']==0, s" \
  "$work/prefix.json" || fail "shared prefix counts"

# A JSONL file, both forms, on the chat endpoint; max_tokens per line.
cat > "$work/prompts.jsonl" <<'JSONL'
{"prompt": "Once upon a time", "max_tokens": 5}
{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a story."}], "max_tokens": 7}

{"messages": [{"role": "user", "content": "Hi"}]}
JSONL
b --prompts "$work/prompts.jsonl" --endpoint chat --output-len 3 -c 2 --json "$work/chat.json" --html "$work/chat.html" \
  > /dev/null 2>&1 || fail "jsonl chat"
check "$work/chat.json" "$work/chat.html" 1 3
python3 - "$work/chat.json" <<'PY' || fail "jsonl numbers"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["config"]["endpoint"] == "/v1/chat/completions" and j["config"]["workload"] == "jsonl"
assert [r["output_tokens"] for r in j["passes"][0]["requests"]] == [5, 7, 3], j["passes"][0]["requests"]
PY
# Messages need the chat endpoint; a bad line names itself.
if b --prompts "$work/prompts.jsonl" 2> "$work/err.txt" > /dev/null; then fail "messages on completions accepted"; fi
grep -q "has chat messages: add --endpoint chat" "$work/err.txt" || fail "messages message: $(cat "$work/err.txt")"
printf '{"prompt": "a"}\n{"prompt": 3}\n' > "$work/bad.jsonl"
if b --prompts "$work/bad.jsonl" 2> "$work/err.txt" > /dev/null; then fail "bad jsonl accepted"; fi
[ "$(wc -l < "$work/err.txt")" -eq 1 ] && grep -q "bad.jsonl:2: \"prompt\" must be a string" "$work/err.txt" \
  || fail "bad jsonl message: $(cat "$work/err.txt")"

# Errors by class: the server refuses every request (400), the run still reports.
b -n 4 -c 2 --extra-body '{"temperature": -1}' --json "$work/refused.json" --html "$work/refused.html" > "$work/refused.txt" 2>&1 \
  || fail "refused run"
check "$work/refused.json" "$work/refused.html" 1 4
python3 -c "
import json,sys; s=json.load(open(sys.argv[1]))['passes'][0]['summary']
assert s['failed']==4 and s['errors']=={'http_4xx': 4} and 'temperature' in s['first_error'], s" "$work/refused.json" \
  || fail "4xx classes"
grep -q "^errors                 http_4xx 4" "$work/refused.txt" || fail "table errors"
# A wrong key is one line before anything is sent.
if "$weft" bench serve --url "$base" --api-key wrong 2> "$work/err.txt"; then fail "wrong key accepted"; fi
[ "$(wc -l < "$work/err.txt")" -eq 1 ] && grep -q "give the server's key with --api-key" "$work/err.txt" \
  || fail "wrong key message: $(cat "$work/err.txt")"

# Ctrl-C mid-run: exit 130, the reports hold what finished (and the aborted ones as cancelled).
done0=$(metric 'weft_http_requests_total{code="200"}')
rm -f "$work/int.json" "$work/int.html"
"$weft" bench serve --url "$base" --api-key "$key" -n 400 -c 2 --prompt-len 16 --output-len 300 --json "$work/int.json" \
  --html "$work/int.html" > "$work/int.txt" 2> "$work/int.err" &
bench=$!  # weft itself, not a subshell: the signal must reach it
for _ in $(seq 1 200); do  # until some requests finished
  [ "$(metric 'weft_http_requests_total{code="200"}')" -ge $((done0 + 10)) ] && break
  sleep 0.05
done
kill -INT $bench
rc=0; wait $bench || rc=$?
[ $rc = 130 ] || { cat "$work/int.err"; fail "Ctrl-C exit status $rc"; }
check "$work/int.json" "$work/int.html" 1 400 --allow-cancelled
python3 - "$work/int.json" <<'PY' || fail "interrupted report"
import json, sys
j = json.load(open(sys.argv[1]))
s = j["passes"][0]["summary"]
assert j["interrupted"] is True and j["passes"][0]["stopped_early"] is True
assert s["completed"] >= 1 and s["failed"] == 0 and s["sent"] < 400, s
assert all(r["ok"] or r["error"] == "cancelled" for r in j["passes"][0]["requests"])
PY
grep -q "Stopped early" "$work/int.html" || fail "html does not say it stopped early"
grep -q "stopping" "$work/int.err" || fail "no stopping message"
echo "bench_serve: sweeps, arrivals, workloads, errors and Ctrl-C reports check out"
