#!/usr/bin/env bash
# weft serve over raw HTTP (curl) on loopback with stories260K: completions and chat,
# streaming and not, the error classes, metrics, disconnects, concurrency, shutdown.
# usage: serve_raw.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*"; [ -f "$work/server.log" ] && tail -n 20 "$work/server.log"; exit 1; }
model="$shared/models/stories260K/stories260K.gguf"
template="$shared/models/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja"
key=test-key-123
want=$(python3 -c "import json; print(json.load(open('$shared/golden/real/index.json'))['stories260K']['cases'][0]['ref_greedy_text'])")

# shellcheck source=lib/weft_server.sh
. "$(dirname "$0")/lib/weft_server.sh"
start_weft_server "$model" --served-model-name weft --api-key "$key" --chat-template "$template" --log-format json \
  --max-seqs 16 --max-queued 64 --shutdown-timeout 10 -t 1
pid=$server_pid
auth="Authorization: Bearer $key"
json="Content-Type: application/json"
c() { curl -sS --max-time 60 "$@"; }
code() { curl -sS --max-time 60 -o "$work/body" -w '%{http_code}' "$@"; }
field() { python3 -c "import json,sys; d=json.load(open('$work/body')); print(eval(sys.argv[1]))" "$1"; }

# Non-streaming completion, greedy: the golden continuation.
[ "$(code "$base/v1/completions" -H "$auth" -H "$json" \
  -d '{"model":"weft","prompt":"Once upon a time","max_tokens":12,"temperature":0,"unknown":[1,2]}')" = 200 ] || fail "completion status"
text=$(field 'd["choices"][0]["text"]')
[[ "$want" == "$text"* && "$text" == ", there was a little girl named Lily"* ]] || fail "greedy text '$text' vs '$want'"
[ "$(field 'd["object"]')" = text_completion ] || fail "object"
[ "$(field 'd["usage"]["prompt_tokens"]')" = 5 ] || fail "usage.prompt_tokens"
[ "$(field 'd["usage"]["completion_tokens"]')" = 12 ] || fail "usage.completion_tokens"
[ "$(field 'd["choices"][0]["finish_reason"]')" = length ] || fail "finish_reason"
[[ "$(field 'd["id"]')" == cmpl-* ]] || fail "id"

# Streaming completion: SSE events, [DONE] last, the same text, a usage chunk.
c -N "$base/v1/completions" -H "$auth" -H "$json" \
  -d '{"prompt":"Once upon a time","max_tokens":12,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}' \
  > "$work/stream.txt"
python3 - "$work/stream.txt" "$text" <<'PY' || fail "completion stream format"
import json, sys
raw = open(sys.argv[1]).read()
assert raw.endswith("data: [DONE]\n\n"), raw[-200:]
events = raw.split("\n\n")[:-1]
assert all(e.startswith("data: ") for e in events), events
chunks = [json.loads(e[6:]) for e in events[:-1]]
text = "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
assert text == sys.argv[2], (text, sys.argv[2])
assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 12, chunks[-1]
assert [c for c in chunks if c["choices"]][-1]["choices"][0]["finish_reason"] == "length"
PY

# Stop string: cut before it, finish_reason stop.
[ "$(code "$base/v1/completions" -H "$auth" -H "$json" -d '{"prompt":"Once upon a time","max_tokens":30,"temperature":0,"stop":["Lily"]}')" = 200 ] || fail "stop status"
[ "$(field 'd["choices"][0]["text"]')" = ", there was a little girl named " ] || fail "stop text: $(cat "$work/body")"
[ "$(field 'd["choices"][0]["finish_reason"]')" = stop ] || fail "stop finish_reason"

# n > 1 with a seed: reproducible; logprobs present.
req='{"prompt":"Once upon a time","max_tokens":8,"temperature":1,"n":3,"seed":11,"logprobs":2}'
code "$base/v1/completions" -H "$auth" -H "$json" -d "$req" > /dev/null; cp "$work/body" "$work/seed1"
code "$base/v1/completions" -H "$auth" -H "$json" -d "$req" > /dev/null
python3 - "$work/seed1" "$work/body" <<'PY' || fail "seeded n=3"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
ta = [c["text"] for c in a["choices"]]; tb = [c["text"] for c in b["choices"]]
assert len(ta) == 3 and ta == tb, (ta, tb)
lp = a["choices"][0]["logprobs"]
assert len(lp["tokens"]) == 8 and len(lp["top_logprobs"][0]) >= 1, lp
PY

# Chat with the template, non-streaming and streaming.
chat='{"messages":[{"role":"system","content":"You tell stories."},{"role":"user","content":"Tell me a story"}],"max_tokens":8,"temperature":0}'
[ "$(code "$base/v1/chat/completions" -H "$auth" -H "$json" -d "$chat")" = 200 ] || fail "chat status: $(cat "$work/body")"
[ "$(field 'd["object"]')" = chat.completion ] || fail "chat object"
[ "$(field 'd["choices"][0]["message"]["role"]')" = assistant ] || fail "chat role"
chat_text=$(field 'd["choices"][0]["message"]["content"]')
[ -n "$chat_text" ] || fail "empty chat content"
c -N "$base/v1/chat/completions" -H "$auth" -H "$json" -d "${chat%\}},\"stream\":true}" > "$work/chat_stream.txt"
python3 - "$work/chat_stream.txt" "$chat_text" <<'PY' || fail "chat stream"
import json, sys
raw = open(sys.argv[1]).read()
assert raw.endswith("data: [DONE]\n\n")
chunks = [json.loads(e[6:]) for e in raw.split("\n\n")[:-2]]
assert chunks[0]["object"] == "chat.completion.chunk" and chunks[0]["choices"][0]["delta"]["role"] == "assistant"
text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
assert text == sys.argv[2], (text, sys.argv[2])
PY

# Models, tokenize, detokenize.
[ "$(code "$base/v1/models" -H "$auth")" = 200 ] && [ "$(field 'd["data"][0]["id"]')" = weft ] || fail "/v1/models"
[ "$(code "$base/tokenize" -H "$auth" -H "$json" -d '{"prompt":"Once upon a time"}')" = 200 ] || fail "tokenize"
ids=$(field 'json.dumps(d["tokens"])')
[ "$(code "$base/detokenize" -H "$auth" -H "$json" -d "{\"tokens\":$ids}")" = 200 ] || fail "detokenize"
[ "$(field 'd["prompt"]')" = "Once upon a time" ] || fail "detokenize text"

# Errors: status, OpenAI error JSON, the field named.
err() {  # err STATUS PARAM curl-args...
  local want_status=$1 want_param=$2; shift 2
  local got; got=$(code "$@")
  [ "$got" = "$want_status" ] || fail "want $want_status, got $got for $*: $(head -c 300 "$work/body")"
  python3 -c "import json; e=json.load(open('$work/body'))['error']; assert e['message'] and e['type'], e; assert '$want_param' == '' or e['param'] == '$want_param', e" \
    || fail "error body for $*: $(cat "$work/body")"
}
err 400 "" "$base/v1/completions" -H "$auth" -H "$json" -d '{"prompt": "x",'
err 400 max_tokens "$base/v1/completions" -H "$auth" -H "$json" -d '{"prompt":"x","max_tokens":"ten"}'
err 400 prompt "$base/v1/completions" -H "$auth" -H "$json" -d '{"max_tokens":3}'
err 400 messages "$base/v1/chat/completions" -H "$auth" -H "$json" -d '{"model":"weft"}'
err 400 top_p "$base/v1/completions" -H "$auth" -H "$json" -d '{"prompt":"x","top_p":0}'
err 400 temperature "$base/v1/completions" -H "$auth" -H "$json" -d '{"prompt":"x","temperature":-1}'
python3 -c "import json; print(json.dumps({'prompt': 'word ' * 3000}))" > "$work/long.json"
err 400 prompt "$base/v1/completions" -H "$auth" -H "$json" -d @"$work/long.json"
grep -q context "$work/body" || fail "over-long prompt message: $(cat "$work/body")"
head -c 6000000 /dev/zero | tr '\0' 'a' > "$work/huge.txt"
err 413 "" "$base/v1/completions" -H "$auth" -H "$json" -H "Expect:" --data-binary @"$work/huge.txt"
err 401 "" "$base/v1/completions" -H "$json" -d '{"prompt":"x"}'
err 401 "" "$base/v1/models" -H "Authorization: Bearer wrong"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/metrics")" = 200 ] || fail "/metrics needs no key by default (as vLLM)"
err 404 "" "$base/v1/nothing" -H "$auth"
err 404 model "$base/v1/completions" -H "$auth" -H "$json" -d '{"model":"gpt-4","prompt":"x"}'
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/health")" = 200 ] || fail "/health needs no key"

# A client that goes away mid-stream cancels its request.
# Leave after 0.2 s: stories260K fills its 2048-token context in about 1 s.
curl -sS -N --max-time 0.2 "$base/v1/completions" -H "$auth" -H "$json" \
  -d '{"prompt":"Once","max_tokens":100000,"ignore_eos":true,"stream":true}' > /dev/null 2>&1 || true
gone=0
for _ in $(seq 1 100); do
  if grep -q '^weft_num_requests_in_flight 0$' <<< "$(c "$base/metrics" -H "$auth")"; then gone=1; break; fi
  sleep 0.1
done
[ $gone = 1 ] || fail "disconnected stream still in flight"
# The log line is written just after in-flight drops: wait for it too.
logged=0
for _ in $(seq 1 50); do
  if grep -q '"status":499' "$work/server.log"; then logged=1; break; fi
  sleep 0.1
done
[ $logged = 1 ] || fail "no log line for the cancelled stream"

# A slowloris-style client sending its request a byte at a time still gets served.
python3 - "$port" "$key" <<'PY' || fail "byte-at-a-time request"
import socket, sys, time
body = b'{"prompt":"Once upon a time","max_tokens":4,"temperature":0}'
req = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + sys.argv[2].encode() +
       b"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
for i in range(len(req)):
    s.send(req[i:i+1]); time.sleep(0.002)
resp = b""
while True:
    d = s.recv(65536)
    if not d: break
    resp += d
assert resp.startswith(b"HTTP/1.1 200"), resp[:200]
assert b", there was a" in resp, resp
PY

# 32 concurrent greedy streams: each complete and correct on its own.
for i in $(seq 1 32); do
  c -N "$base/v1/completions" -H "$auth" -H "$json" \
    -d '{"prompt":"Once upon a time","max_tokens":12,"temperature":0,"stream":true}' > "$work/par$i.txt" &
done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
python3 - "$work" "$text" <<'PY' || fail "concurrent streams"
import json, sys
for i in range(1, 33):
    raw = open(f"{sys.argv[1]}/par{i}.txt").read()
    assert raw.endswith("data: [DONE]\n\n"), (i, raw[-100:])
    t = "".join(json.loads(e[6:])["choices"][0]["text"] for e in raw.split("\n\n")[:-2])
    assert t == sys.argv[2], (i, t)
PY

# Metrics agree with what was sent.
c "$base/metrics" -H "$auth" > "$work/metrics.txt"
for m in vllm:num_requests_running vllm:num_requests_waiting vllm:kv_cache_usage_perc vllm:prefix_cache_hits_total \
         vllm:prefix_cache_queries_total vllm:num_preemptions_total vllm:prompt_tokens_total vllm:generation_tokens_total \
         vllm:time_to_first_token_seconds_bucket vllm:time_per_output_token_seconds_count vllm:e2e_request_latency_seconds_sum; do
  grep -q "^$m" "$work/metrics.txt" || fail "metric $m missing"
done
ok200=$(grep -cE '"path":"/v1/(chat/)?completions","status":200' "$work/server.log" || true)
m200=$(grep '^weft_http_requests_total{code="200"}' "$work/metrics.txt" | awk '{print $2}')
[ "$ok200" = "$m200" ] || fail "metrics count $m200 requests with 200, the log $ok200"
[ "$(grep -c '^{"ts"' "$work/server.log")" -ge 50 ] || fail "json log lines"

# SIGTERM: drain and exit 0.
kill -TERM $pid
rc=0; wait $pid || rc=$?
[ $rc = 0 ] || fail "exit status $rc after SIGTERM"
grep -q "stopped" "$work/server.log" || fail "no shutdown message"
trap - EXIT
echo "serve_raw: all checks passed"
