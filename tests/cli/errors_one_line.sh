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
echo "errors_one_line: every command fails in one line"
