#!/usr/bin/env bash
# weft serve's front door (issue 26, items 2-4): --max-model-len beyond the model's
# context is refused; the startup hint pastes and works with --api-key and
# --api-key-file; /metrics has vLLM's names with a model_name label and needs no key
# (unless --protect-metrics); GET /v1/models/{id}; /version; opt-in CORS; load time,
# configuration and memory at info level; WEFT_LOG=debug logs the engine's steps.
# usage: serve_front_door.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
m="$shared/models/stories260K/stories260K.gguf"
tmpl="$shared/models/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja"
code() { curl -s -o "$work/body" -w '%{http_code}' "$@"; }

# No silent clamp: a context beyond the model's is refused, naming the limit.
ctx=$("$weft" info "$m" --json | python3 -c '
import json, sys
def find(j):
    if isinstance(j, dict):
        if "context_length" in j: return j["context_length"]
        for v in j.values():
            r = find(v)
            if r is not None: return r
print(find(json.load(sys.stdin)))')
if "$weft" serve "$m" --port 0 --max-model-len 99999 > /dev/null 2> "$work/big.err"; then fail "serve --max-model-len 99999 started"; fi
grep -q "99999.*context length is $ctx; give at most $ctx" "$work/big.err" || fail "refusal: $(cat "$work/big.err")"

# shellcheck source=lib/weft_server.sh
. "$here/lib/weft_server.sh"
key='s3cret key'
WEFT_LOG=debug start_weft_server "$m" --api-key "$key" --chat-template "$tmpl" -a 'front/door' \
  --allowed-origins http://app.example -t 1
# Startup: load time, configuration, memory (info level); the hint pasted into bash works.
grep -q "weft serve: loaded .* in [0-9.]* s: llama, [0-9]* layers, embd [0-9]*, .*context [0-9]*" "$work/server.log" \
  || fail "no load line: $(head -n 5 "$work/server.log")"
grep -q "weft serve: memory: .* resident .*KV cache" "$work/server.log" || fail "no memory line"
hint=$(grep -o 'try (with KEY set to the API key): .*' "$work/server.log" | sed 's/^try (with KEY set to the API key): //')
[ -n "$hint" ] || fail "no curl hint: $(cat "$work/server.log")"
case "$hint" in *"'Authorization: Bearer \$KEY'"*) fail "\$KEY inside single quotes: $hint" ;; esac
out=$(KEY=$key bash -c "$hint -s -w ' HTTP%{http_code}'")
case "$out" in *HTTP200) ;; *) fail "pasted hint: $out" ;; esac
# WEFT_LOG=debug: the engine says what each step did.
grep -q "engine step: [0-9]* seqs ([0-9]* prefill" "$work/server.log" || fail "no per-step debug line"

# /metrics: open by default, vLLM's names with model_name, weft's own beside them.
[ "$(code "$base/metrics")" = 200 ] || fail "/metrics without a key: $(cat "$work/body")"
while read -r name; do
  case "$name" in '#'*|'') continue ;; esac
  grep -qE "^${name}(_bucket|_count|_sum)?\{([^}]*,)?model_name=\"front/door\"" "$work/body" || fail "metric $name missing"
done < "$here/lib/vllm_metric_names.txt"
# The pasted request ran to max_tokens ("length"); the transport may count it "abort" when
# curl closes the connection as the last byte arrives (logged 499; see the report of issue 26).
grep -qE '^vllm:request_success_total\{model_name="front/door",finished_reason="(length|abort)"\} 1$' "$work/body" \
  || fail "request_success_total: $(grep request_success "$work/body")"
grep -q '^weft_num_requests_in_flight 0$' "$work/body" || fail "weft's own metrics"
# Model, version, CORS.
[ "$(code "$base/v1/models/front/door" -H "Authorization: Bearer $key")" = 200 ] || fail "/v1/models/{id}"
grep -q '"id":"front/door"' "$work/body" && grep -q '"object":"model"' "$work/body" || fail "model object: $(cat "$work/body")"
[ "$(code "$base/v1/models/other" -H "Authorization: Bearer $key")" = 404 ] || fail "unknown model id"
grep -q model_not_found "$work/body" || fail "404 body: $(cat "$work/body")"
[ "$(code "$base/v1/models/front/door")" = 401 ] || fail "/v1/models/{id} without key"
[ "$(code "$base/version")" = 200 ] && grep -q '"version":"' "$work/body" || fail "/version: $(cat "$work/body")"
pre=$(curl -s -i -X OPTIONS "$base/v1/chat/completions" -H 'Origin: http://app.example' \
  -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: authorization, content-type')
echo "$pre" | grep -qi '^HTTP/1.1 204' || fail "preflight: $pre"
echo "$pre" | grep -qi '^Access-Control-Allow-Origin: http://app.example' || fail "preflight origin: $pre"
echo "$pre" | grep -qi '^Access-Control-Allow-Headers: .*Authorization' || fail "preflight headers: $pre"
curl -s -i "$base/v1/models" -H "Authorization: Bearer $key" -H 'Origin: http://app.example' | \
  grep -qi '^Access-Control-Allow-Origin: http://app.example' || fail "no CORS header on GET"
curl -s -i "$base/v1/models" -H "Authorization: Bearer $key" -H 'Origin: http://evil.example' | \
  grep -qi '^Access-Control-Allow-Origin' && fail "CORS header for an origin not allowed"
kill $server_pid; wait $server_pid 2>/dev/null || true

# --api-key-file: the hint reads the file; --protect-metrics closes /metrics; no CORS by default.
printf 'file-key\n' > "$work/key.txt"
start_weft_server "$m" --api-key-file "$work/key.txt" --protect-metrics -t 1
hint=$(grep -o 'try: curl .*' "$work/server.log" | sed 's/^try: //')
out=$(bash -c "$hint -s -w ' HTTP%{http_code}'")
case "$out" in *HTTP200) ;; *) fail "pasted --api-key-file hint: $out" ;; esac
grep -q "engine step" "$work/server.log" && fail "per-step lines at info level"
[ "$(code "$base/metrics")" = 401 ] || fail "--protect-metrics"
[ "$(code "$base/metrics" -H 'Authorization: Bearer file-key')" = 200 ] || fail "--protect-metrics with the key"
curl -s -i -X OPTIONS "$base/v1/models" -H 'Origin: http://app.example' | grep -qi '^Access-Control-Allow-Origin' \
  && fail "CORS without --allowed-origins"
echo "serve_front_door: refusal, hint, metrics, models/{id}, version, CORS, startup lines ok"
