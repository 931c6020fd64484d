#!/usr/bin/env bash
# Structured output on random-weight synthetic models (the model has no idea of JSON, so
# only the grammar makes the output valid): 1,000 seeded requests over a varied set of
# bounded schemas through response_format / guided_json / structured_outputs, each
# output validated by npm ajv (tests/structured), each ending with finish_reason "stop"
# (every schema's sentences are finite, so max_tokens must never be what ends one).
# Two vocabularies: tiny (SentencePiece, 32k) and tinyq (byte-level BPE, 50k). Then the
# 400s: an unsupported keyword is named, a malformed constraint field is named.
# usage: structured_ajv.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*"; [ -f "$work/server.log" ] && tail -n 20 "$work/server.log"; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/../structured/setup.sh" || fail "npm ci in tests/structured"
# shellcheck source=lib/weft_server.sh
. "$here/lib/weft_server.sh"

for preset in tiny tinyq; do
  model="$work/$preset.gguf"
  [ -f "$model" ] || python3 "$shared/tools/synth_gguf.py" --preset "$preset" -o "$model" > /dev/null
  start_weft_server "$model" --max-seqs 16 -t 2
  node "$here/../structured/constrained_runs.mjs" "$base" 1000 2048 || fail "$preset: constrained runs"

  code() { curl -sS --max-time 60 -o "$work/body" -w '%{http_code}' "$base/v1/completions" -H 'Content-Type: application/json' -d "$1"; }
  [ "$(code '{"prompt":"x","guided_json":{"type":"object","patternProperties":{"^a":{}}}}')" = 400 ] || fail "patternProperties accepted"
  grep -q "unsupported JSON Schema keyword 'patternProperties'" "$work/body" || fail "400 does not name the keyword: $(cat "$work/body")"
  grep -q '"param":"guided_json"' "$work/body" || fail "400 does not name the field: $(cat "$work/body")"
  [ "$(code '{"prompt":"x","response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"allOf":[{}]}}}}')" = 400 ] || fail "allOf accepted"
  grep -q "'allOf'" "$work/body" || fail "allOf not named: $(cat "$work/body")"
  [ "$(code '{"prompt":"x","guided_regex":"(a)\\1"}')" = 400 ] || fail "backreference accepted"
  [ "$(code '{"prompt":"x","guided_choice":["a"],"guided_regex":"b"}')" = 400 ] || fail "two constraints accepted"
  [ "$(code '{"prompt":"x","guided_grammar":"root ::= undefined-rule"}')" = 400 ] || fail "a GBNF grammar with an undefined rule accepted"
  grep -q '"param":"guided_grammar"' "$work/body" || fail "400 does not name guided_grammar: $(cat "$work/body")"
  # guided_choice and guided_regex: the output is one of the choices / matches the regex.
  for seed in 1 2 3 4 5 6 7 8; do
    [ "$(code "{\"prompt\":\"x\",\"seed\":$seed,\"max_tokens\":50,\"guided_choice\":[\"yes\",\"no\",\"maybe not\"]}")" = 200 ] || fail "choice"
    python3 -c "import json,sys; d=json.load(open('$work/body')); t=d['choices'][0]['text']; assert t in ('yes','no','maybe not'), t; assert d['choices'][0]['finish_reason']=='stop'" || fail "choice output $(cat "$work/body")"
    [ "$(code "{\"prompt\":\"x\",\"seed\":$seed,\"max_tokens\":50,\"guided_regex\":\"[0-9]{3}-[a-z]{2,4}(!|\\\\?)\"}")" = 200 ] || fail "regex"
    python3 -c "import json,re,sys; d=json.load(open('$work/body')); t=d['choices'][0]['text']; assert re.fullmatch(r'[0-9]{3}-[a-z]{2,4}(!|\?)', t), t" || fail "regex output $(cat "$work/body")"
    # guided_grammar (GBNF): lists of letters or of lists (two levels, bounded so that it ends), checked by the same language as a Python regex.
    gbnf_body=$(python3 -c 'import json,sys; print(json.dumps({"prompt": "x", "seed": int(sys.argv[1]), "max_tokens": 60, "guided_grammar": "root ::= list\nlist ::= \"(\" item (\",\" item){0,2} \")\"  # at most 3 items\nitem ::= [a-c] | \"(\" [a-c] (\",\" [a-c]){0,2} \")\""}))' "$seed")
    [ "$(code "$gbnf_body")" = 200 ] || fail "gbnf $(cat "$work/body")"
    python3 -c "import json,re,sys; d=json.load(open('$work/body')); t=d['choices'][0]['text']; i=r'([a-c]|\([a-c](,[a-c]){0,2}\))'; assert re.fullmatch(r'\('+i+'(,'+i+r'){0,2}\)', t), t; assert d['choices'][0]['finish_reason']=='stop'" || fail "gbnf output $(cat "$work/body")"
  done
  # json_object: unbounded, so only checked when it stops.
  for seed in 1 2 3 4 5; do
    [ "$(code "{\"prompt\":\"x\",\"seed\":$seed,\"max_tokens\":300,\"response_format\":{\"type\":\"json_object\"}}")" = 200 ] || fail "json_object"
    python3 -c "
import json; d=json.load(open('$work/body')); c=d['choices'][0]
if c['finish_reason']=='stop': assert isinstance(json.loads(c['text']), dict), c['text']
else: assert c['finish_reason']=='length' and c['text'].startswith('{'), c" || fail "json_object output $(cat "$work/body")"
  done
  kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true
done
echo "structured_ajv: ok"
