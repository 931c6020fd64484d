#!/usr/bin/env bash
# The spellings llama.cpp and vLLM users type, over every command (issue 26, item 1):
# -m/--model, -c/--ctx-size/--max-model-len, -s/--seed, -f/--file, --repeat-penalty,
# -a/--alias, --max-num-seqs, --max-num-batched-tokens, --chat-template-file are taken;
# -ngl, -fa, --gpu-memory-utilization are taken with one note that weft runs on the CPU;
# an unknown flag names the command and, where there is one, the weft spelling.
# usage: compat_flags.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
m="$shared/models/stories260K/stories260K.gguf"
tmpl="$shared/models/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja"
[ -f "$m" ] && [ -f "$tmpl" ] || fail "missing $m or $tmpl"
for _ in $(seq 1 40); do printf 'Once upon a time there was a little girl named Lily. She liked to play in the park.\n'; done > "$work/text.txt"
printf 'Once upon a time' > "$work/prompt.txt"
echo '[{"role": "user", "content": "Hi"}]' > "$work/messages.json"
echo '1 2 3 4' > "$work/ids.txt"
cpu_note='note: weft runs on the CPU; .* change nothing'

# expect | arguments. expect: ok (exit 0), ok~REGEX (exit 0, stderr matches), or
# err~REGEX (non-zero exit, exactly one stderr line, matching).
table=$(cat <<EOF
ok                                          | info -m $m
ok                                          | info --model $m --json
err~^weft info: unknown flag --jsn \(weft spells it --json; weft info --help lists the flags\)$ | info $m --jsn
err~^weft info: unknown flag --no-such-flag \(weft info --help lists the flags\)$ | info $m --no-such-flag
err~^weft info: unknown flag -ngl \(--n-gpu-layers\) \(weft info --help lists the flags\)$ | info $m -ngl 9
ok                                          | tokenize -m $m -f $work/prompt.txt
err~^weft tokenize: unknown flag --no-such-flag | tokenize $m hi --no-such-flag
ok                                          | template -m $m --messages $work/messages.json --chat-template-file $tmpl
err~^weft template: unknown flag --no-such-flag | template $m --messages $work/messages.json --no-such-flag
ok~$cpu_note                                | run -m $m -p Once -n 4 -s 1 -c 128 --repeat-penalty 1.1 -ngl 99 -fa --temp 0
ok~$cpu_note                                | run $m -f $work/prompt.txt -n 4 --seed 1 --ctx-size 64 -fa on --gpu-memory-utilization 0.9 --temp 0
err~^weft run: unknown flag --temperature \(weft spells it --temp; | run $m -p hi --temperature 0
err~^weft run: unknown flag --max-tokens \(weft spells it -n;      | run $m -p hi --max-tokens 4
err~^weft run: unknown flag --n-gpu-layer \(weft spells it --n-gpu-layers; | run $m -p hi --n-gpu-layer 9
ok~$cpu_note                                | chat -m $m --chat-template-file $tmpl -c 256 -s 3 --repeat-penalty 1.1 --system-prompt Hi -ngl 1 -n 4 -t 1
err~^weft chat: unknown flag --system-promt \(weft spells it --system-prompt; | chat $m --system-promt hi
err~^weft serve: unknown flag --served-model \(weft spells it --served-model-name; | serve $m --served-model x
err~^weft serve: unknown flag --batch-size \(weft spells it --max-batched-tokens; | serve $m --batch-size 8
ok~$cpu_note                                | bench -m $m -p 8 -n 4 -r 1 -t 1 -ngl 99 -fa 0,1
ok                                          | bench $m --batch 2 --prompt-len 8 --gen-len 4 --max-num-seqs 2 --max-num-batched-tokens 64 -t 1
err~^weft bench: unknown flag --no-such-flag | bench $m --no-such-flag
ok~$cpu_note                                | perplexity -m $m -f $work/text.txt --ctx-size 64 --chunks 1 -ngl 99 -t 1
ok                                          | perplexity $m --file $work/text.txt --max-model-len 64 --chunks 1 -t 1
ok                                          | logits -m $m --tokens $work/ids.txt --out $work/x.logits -t 1
err~^weft bench serve: unknown flag --no-such-flag | bench serve --no-such-flag
EOF
)
n=0
while IFS='|' read -r expect args; do
  expect=$(echo "$expect" | sed 's/ *$//')
  n=$((n + 1))
  # shellcheck disable=SC2086
  if $weft $args < /dev/null > "$work/out.txt" 2> "$work/err.txt"; then rc=0; else rc=$?; fi
  case "$expect" in
    ok*)
      [ $rc -eq 0 ] || fail "weft$args: exit $rc: $(cat "$work/err.txt")"
      if [ "${expect#ok~}" != "$expect" ]; then
        grep -qE "${expect#ok~}" "$work/err.txt" || fail "weft$args: stderr lacks /${expect#ok~}/: $(cat "$work/err.txt")"
        [ "$(grep -c 'note: weft runs on the CPU' "$work/err.txt")" -eq 1 ] || fail "weft$args: not one CPU note"
      fi ;;
    err~*)
      [ $rc -ne 0 ] || fail "weft$args succeeded"
      [ "$(wc -l < "$work/err.txt")" -eq 1 ] || fail "weft$args: not one line: $(cat "$work/err.txt")"
      grep -qE "${expect#err~}" "$work/err.txt" || fail "weft$args: stderr '$(cat "$work/err.txt")' lacks /${expect#err~}/" ;;
    *) fail "bad row: $expect" ;;
  esac
done <<< "$table"

# The aliases change what they name: -s is --seed, -f is -p from a file, -c caps the context.
a=$("$weft" run "$m" -p 'Once upon a time' -n 12 -s 7 --temp 1 -q)
b=$("$weft" run -m "$m" -f "$work/prompt.txt" -n 12 --seed 7 --temp 1 -q)
[ "$a" = "$b" ] || fail "-s/-f differ from --seed/-p: '$a' vs '$b'"
"$weft" run "$m" -p 'Once upon a time' -n 100 --ignore-eos -c 16 --temp 0 > /dev/null 2> "$work/ctx.err"
grep -q "context full.*context of 16 tokens" "$work/ctx.err" || fail "-c 16 did not cap the context: $(cat "$work/ctx.err")"
# No silent clamps (item 2): -n past the model's context says "context full"; -c past it is refused.
"$weft" run "$m" -p 'Once upon a time' -n 5000 --ignore-eos --temp 0 > /dev/null 2> "$work/full.err"
grep -q "weft run: context full: prompt [0-9]* + generated [0-9]* tokens fill the context of [0-9]* tokens (-n asked for 5000)" \
  "$work/full.err" || fail "no context-full line: $(cat "$work/full.err")"
grep -q "stop: context full" "$work/full.err" || fail "summary stop reason: $(cat "$work/full.err")"
if "$weft" run "$m" -p hi -c 99999 > /dev/null 2> "$work/big.err"; then fail "run -c 99999 ran"; fi
grep -q "99999 tokens was asked for.*give at most" "$work/big.err" || fail "run -c 99999: $(cat "$work/big.err")"

# serve: -m, -a, --max-num-seqs, --max-num-batched-tokens, --chat-template-file, -c, GPU flags.
# shellcheck source=lib/weft_server.sh
. "$(dirname "$0")/lib/weft_server.sh"
start_weft_server -m "$m" -a my-model --max-num-seqs 3 --max-num-batched-tokens 128 --chat-template-file "$tmpl" \
  -c 256 -ngl 99 -fa --gpu-memory-utilization 0.5 -s 1 -t 1
grep -q "weft serve: $cpu_note" "$work/server.log" || fail "serve: no CPU note"
models=$(curl -s "$base/v1/models")
echo "$models" | grep -q '"id":"my-model"' || fail "serve -a: $models"
echo "$models" | grep -q '"max_model_len":256' || fail "serve -c: $models"
code=$(curl -s -o "$work/chat.json" -w '%{http_code}' "$base/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model": "my-model", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}')
[ "$code" = 200 ] || fail "chat with --chat-template-file: $code $(cat "$work/chat.json")"
echo "compat_flags: $n table rows, aliases and serve flags ok"
