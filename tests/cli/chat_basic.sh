#!/usr/bin/env bash
# weft chat driven through piped stdin: turns, commands, history overflow, a chat
# template, multi-line input and Ctrl-C (SIGINT) mid-reply.
# usage: chat_basic.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
rm -f "$work"/*.json "$work"/in.fifo
fail() { echo "FAIL: $*"; exit 1; }
m="$shared/models/stories260K/stories260K.gguf"
# stories260K has no chat template; a small one keeps the prompts short.
phi="$shared/models/chat-templates/microsoft-Phi-3.5-mini-instruct.jinja"
# Count messages by role in a saved conversation; fails unless it is a JSON array of
# {role, content} with the roles given (in order) and every assistant content non-empty.
check_roles() {
  python3 - "$@" <<'PY'
import json, sys
msgs = json.load(open(sys.argv[1]))
roles = [m["role"] for m in msgs]
want = sys.argv[2].split(",") if sys.argv[2] else []
assert roles == want, (roles, want)
for m in msgs:
    assert isinstance(m["content"], str), m
    assert m["role"] != "assistant" or m["content"].strip(), "empty reply"
PY
}
content() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[int(sys.argv[2])]['content'])" "$@"; }

# A model without a chat template is refused in one line naming --chat-template (as weft
# serve answers chat requests 400), not chatted with in a made-up format.
if echo hi | "$weft" chat "$m" --temp 0 -n 4 > /dev/null 2> "$work/none.err"; then fail "chat without a template ran"; fi
[ "$(wc -l < "$work/none.err")" -eq 1 ] && grep -q "has no chat template; give one with --chat-template FILE" "$work/none.err" \
  || fail "no-template message: $(cat "$work/none.err")"

# Two turns, greedy: a non-empty reply per turn, the same text on a second run.
turns=$'Tell me a story about a cat.\nWhat did the cat do next?\n/save '"$work/two.json"$'\n'
"$weft" chat "$m" --chat-template "$phi" --temp 0 -n 48 <<< "$turns" > "$work/two1.out" 2> "$work/two1.err"
"$weft" chat "$m" --chat-template "$phi" --temp 0 -n 48 <<< "$turns" > "$work/two2.out" 2> /dev/null
cmp -s "$work/two1.out" "$work/two2.out" || { diff "$work/two1.out" "$work/two2.out"; fail "greedy chat not deterministic"; }
[ -s "$work/two1.out" ] || fail "no output"
check_roles "$work/two.json" "user,assistant,user,assistant" || fail "two-turn /save: $(cat "$work/two.json")"
[ "$(content "$work/two.json" 0)" = "Tell me a story about a cat." ] || fail "first user message"
# stdout is exactly the replies, each followed by a newline.
python3 - "$work/two.json" "$work/two1.out" <<'PY' || fail "stdout is not the replies: $(cat "$work/two1.out")"
import json, sys
msgs = json.load(open(sys.argv[1]))
want = "".join(m["content"] + "\n" for m in msgs if m["role"] == "assistant")
assert open(sys.argv[2]).read() == want
PY

# /system, /save, /reset: the reply after /reset is the reply of a fresh chat.
"$weft" chat "$m" --chat-template "$phi" --temp 0 -n 32 > "$work/sys.out" 2> "$work/sys.err" <<EOF
/system You tell short stories.
Hello
/save $work/sys1.json
/reset
Where is the dog?
/save $work/sys2.json
/help
/nonsense
EOF
check_roles "$work/sys1.json" "system,user,assistant" || fail "/system + /save: $(cat "$work/sys1.json")"
[ "$(content "$work/sys1.json" 0)" = "You tell short stories." ] || fail "system content"
check_roles "$work/sys2.json" "system,user,assistant" || fail "/reset kept old turns: $(cat "$work/sys2.json")"
grep -q "conversation cleared" "$work/sys.err" || fail "/reset notice"
grep -q "/save FILE" "$work/sys.err" || fail "/help text"
grep -q "unknown command /nonsense" "$work/sys.err" || fail "unknown command message"
fresh=$(printf '/system You tell short stories.\nWhere is the dog?\n' | "$weft" chat "$m" --chat-template "$phi" --temp 0 -n 32 2> /dev/null)
[ "$fresh" = "$(content "$work/sys2.json" 2)" ] || fail "reply after /reset differs from a fresh chat: '$fresh'"

# Multi-line input: a line ending with a backslash continues the message.
printf 'First line\\\nsecond line\n/save %s\n' "$work/ml.json" | "$weft" chat "$m" --chat-template "$phi" --temp 0 -n 8 > /dev/null 2>&1
[ "$(content "$work/ml.json" 0)" = $'First line\nsecond line' ] || fail "multi-line message: $(cat "$work/ml.json")"

# History overflow: a small context drops the oldest turns, with a notice, and every
# turn still gets its reply.
: > "$work/long.in"
for i in 1 2 3 4 5 6; do echo "Tell me about the little girl and her red ball, part $i." >> "$work/long.in"; done
echo "/save $work/long.json" >> "$work/long.in"
"$weft" chat "$m" --chat-template "$phi" --temp 0 -n 40 --ctx 160 < "$work/long.in" > "$work/long.out" 2> "$work/long.err"
grep -qE "^\(dropped [0-9]+ old turns? to fit the context\)$" "$work/long.err" || { cat "$work/long.err"; fail "no drop notice"; }
check_roles "$work/long.json" "user,assistant,user,assistant,user,assistant,user,assistant,user,assistant,user,assistant" ||
  fail "overflow conversation: $(cat "$work/long.json")"
# A message that cannot fit even alone is refused with a message; the chat goes on.
big=$(python3 -c "print('word ' * 400)")
printf '%s\nHello\n/save %s\n' "$big" "$work/big.json" | "$weft" chat "$m" --chat-template "$phi" --temp 0 -n 16 --ctx 160 > /dev/null 2> "$work/big.err"
grep -q "the context holds 160" "$work/big.err" || { cat "$work/big.err"; fail "over-long message"; }
check_roles "$work/big.json" "user,assistant" || fail "after an over-long message: $(cat "$work/big.json")"

# A chat template: rendered without a warning, the reply streams.
tmpl="$shared/models/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja"
printf 'Hello\nTell me more\n/save %s\n' "$work/tmpl.json" |
  "$weft" chat "$m" --chat-template "$tmpl" --temp 0 -n 24 --system "Be brief." > "$work/tmpl.out" 2> "$work/tmpl.err"
! grep -q "no chat template" "$work/tmpl.err" || fail "warning despite --chat-template"
check_roles "$work/tmpl.json" "system,user,assistant,user,assistant" || fail "template chat: $(cat "$work/tmpl.json")"
[ -s "$work/tmpl.out" ] || fail "template chat printed nothing"

# Errors: one line, non-zero exit.
if "$weft" chat "$m" --chat-template "$work/no-such.jinja" < /dev/null 2> "$work/err.txt"; then fail "missing template accepted"; fi
[ "$(wc -l < "$work/err.txt")" -eq 1 ] || fail "missing template: $(cat "$work/err.txt")"
if "$weft" chat no-such-model < /dev/null 2> "$work/err.txt"; then fail "missing model accepted"; fi
[ "$(wc -l < "$work/err.txt")" -eq 1 ] || fail "missing model: $(cat "$work/err.txt")"

# SIGINT mid-reply cancels that reply only: the next turn is answered in full. The
# reply is long (--ignore-eos, one thread) so that the signal lands while it streams.
mkfifo "$work/in.fifo"
"$weft" chat "$shared/models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf" --chat-template "$phi" --temp 0 -n 1500 --ignore-eos -t 1 < "$work/in.fifo" > "$work/int.out" 2> "$work/int.err" &
pid=$!
exec 3> "$work/in.fifo"
echo "Tell me a long story." >&3
for _ in $(seq 1 400); do [ -s "$work/int.out" ] && break; sleep 0.05; done
[ -s "$work/int.out" ] || { kill "$pid"; fail "no reply started"; }
kill -INT "$pid"
printf 'Go on.\n/save %s\n' "$work/int.json" >&3
exec 3>&-
wait "$pid" || fail "chat exited with $? after SIGINT: $(cat "$work/int.err")"
rm -f "$work/in.fifo"
grep -q "(reply interrupted)" "$work/int.err" || { cat "$work/int.err"; fail "no interruption notice"; }
check_roles "$work/int.json" "user,assistant,user,assistant" || fail "after SIGINT: $(cat "$work/int.json")"
python3 - "$work/int.json" <<'PY' || fail "the interrupted reply is not shorter than the full one"
import json, sys
m = json.load(open(sys.argv[1]))
assert len(m[1]["content"]) < len(m[3]["content"]) / 2, (len(m[1]["content"]), len(m[3]["content"]))
PY
echo "chat_basic: turns, commands, overflow, template, multi-line and SIGINT work"
