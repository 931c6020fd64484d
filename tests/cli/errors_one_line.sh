#!/usr/bin/env bash
# Every command: an unknown flag or a missing model gives exactly one line on stderr
# and a non-zero exit; --help and --version succeed.
# usage: errors_one_line.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
one_line() {  # description, command...
  local what=$1; shift
  if "$@" > /dev/null 2> "$work/err.txt"; then fail "$what succeeded"; fi
  [ "$(wc -l < "$work/err.txt")" -eq 1 ] || { cat "$work/err.txt"; fail "$what: not one line"; }
}
"$weft" --version | grep -q "^weft " || fail "--version"
"$weft" --help > /dev/null || fail "--help"
one_line "no command" "$weft"
one_line "unknown command" "$weft" frobnicate
for c in info tokenize template run chat serve bench perplexity logits; do
  "$weft" "$c" --help > /dev/null || fail "$c --help"
  one_line "$c --no-such-flag" "$weft" "$c" --no-such-flag
done
one_line "info missing" "$weft" info /nonexistent/model.gguf
one_line "run missing" "$weft" run no-such-model -p hi
one_line "tokenize missing" "$weft" tokenize no-such-model hi
one_line "bench missing" "$weft" bench no-such-model
one_line "bench no model" "$weft" bench
"$weft" bench serve --help > /dev/null || fail "bench serve --help"
one_line "bench serve --no-such-flag" "$weft" bench serve --no-such-flag
one_line "bench serve no url" "$weft" bench serve
# Port 9 (discard) is closed on loopback: a clear refusal, not a hang.
one_line "bench serve unreachable" "$weft" bench serve --url http://127.0.0.1:9
grep -q "cannot reach http://127.0.0.1:9/v1/models.*start the server or fix --url" "$work/err.txt" || fail "unreachable message"
one_line "bench serve bad url" "$weft" bench serve --url 127.0.0.1:8080
one_line "bench serve bad slo" "$weft" bench serve --url http://127.0.0.1:9 --slo ttft=fast
one_line "bench serve bad sweep" "$weft" bench serve --url http://127.0.0.1:9 -c 1,x
one_line "bench serve two sweeps" "$weft" bench serve --url http://127.0.0.1:9 -c 1,2 -r 1,2
one_line "bench serve missing prompts" "$weft" bench serve --url http://127.0.0.1:9 --prompts /nonexistent.jsonl
echo "errors_one_line: every command fails in one line"
