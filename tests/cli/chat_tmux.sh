#!/usr/bin/env bash
# weft chat in a real terminal (a detached tmux session on a private socket): the
# prompt, Ctrl-C at the prompt (a hint, no exit), Ctrl-C mid-reply (the reply stops,
# the prompt comes back), /save, line editing and history (Up recalls the last line,
# Left moves the cursor), and Ctrl-D to leave with exit status 0.
# usage: chat_tmux.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
# A missing tmux fails the test (scripts/install-deps.sh installs it): never a silent skip.
command -v tmux > /dev/null || { echo "FAIL: chat_tmux needs tmux (run scripts/install-deps.sh)"; exit 1; }
sock="weft-chat-test-$$"  # a private server, by name (a path under WORK_DIR may be too long for a socket)
t() { tmux -L "$sock" -f /dev/null "$@"; }
pane() { t capture-pane -p -J -t chat -S -200; }
fail() { echo "FAIL: $*"; echo "--- pane:"; pane || true; exit 1; }
cleanup() { t kill-server 2> /dev/null || true; }
trap cleanup EXIT
cleanup
# Waits up to $2 seconds until the pane matches the extended regex $1.
wait_for() {
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    pane | grep -qE -- "$1" && return 0
    sleep 0.1
  done
  return 1
}
alive() { [ "$(t display -p -t chat '#{pane_dead}')" = 0 ]; }

t new-session -d -s chat -x 160 -y 50
t set-option -t chat remain-on-exit on
t respawn-pane -k -t chat "$weft" chat "$shared/models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf" --temp 0 -n 1500 \
  --ignore-eos -t 1 --chat-template "$shared/models/chat-templates/microsoft-Phi-3.5-mini-instruct.jinja"
wait_for '^> ?$' 30 || fail "no prompt"
wait_for 'Ctrl-D leaves' 5 || fail "no banner"

# Ctrl-C at the prompt: a hint and a new prompt, still running.
t send-keys -t chat C-c
wait_for 'Ctrl-C stops a reply' 5 || fail "no hint after Ctrl-C at the prompt"
alive || fail "Ctrl-C at the prompt ended the chat"

# Ctrl-C while a long reply streams: it stops, the prompt comes back.
t send-keys -t chat -l "Tell me a long story."
t send-keys -t chat Enter
replying() { pane | awk 'f && NF { found = 1 } /^> Tell me a long story\./ { f = 1 } END { exit !found }'; }
for _ in $(seq 1 200); do replying && break; sleep 0.1; done
replying || fail "no reply streaming"
t send-keys -t chat C-c
wait_for '\(reply interrupted\)' 10 || fail "Ctrl-C did not interrupt the reply"
prompt_back() { pane | grep -A1 -F '(reply interrupted)' | tail -n 1 | grep -qE '^> ?$'; }
for _ in $(seq 1 100); do prompt_back && break; sleep 0.1; done
prompt_back || fail "no prompt after the interrupted reply"
alive || fail "Ctrl-C mid-reply ended the chat"

# The interrupted reply stays in the history as far as it got; Ctrl-D leaves.
t send-keys -t chat -l "/save $work/tmux.json"
t send-keys -t chat Enter
wait_for 'saved 2 messages' 10 || fail "/save after the interrupted reply"
# Line editing (libedit): Up recalls the last line at the prompt, Enter runs it again;
# Left moves the cursor inside a line being typed.
t send-keys -t chat Up
last_prompt() { pane | grep -vE '^\s*$' | tail -n 1; }
for _ in $(seq 1 50); do [ "$(last_prompt)" = "> /save $work/tmux.json" ] && break; sleep 0.1; done
[ "$(last_prompt)" = "> /save $work/tmux.json" ] || fail "Up did not recall the last line: '$(last_prompt)'"
t send-keys -t chat Enter
for _ in $(seq 1 50); do [ "$(pane | grep -c 'saved 2 messages')" -ge 2 ] && break; sleep 0.1; done
[ "$(pane | grep -c 'saved 2 messages')" -ge 2 ] || fail "the recalled line did not run"
t send-keys -t chat -l "/hlp"
t send-keys -t chat Left Left
t send-keys -t chat -l "e"
t send-keys -t chat Enter
wait_for '/save FILE' 10 || fail "editing with Left did not make /help"
t send-keys -t chat C-d
# tmux does not always record the exit status of a pane whose terminal closed first, so
# check it (and that no signal ended the chat) only where tmux has it.
for _ in $(seq 1 100); do alive || break; sleep 0.1; done
! alive || fail "Ctrl-D did not leave"
sleep 0.2
status=$(t display -p -t chat '#{pane_dead_status}') signal=$(t display -p -t chat '#{pane_dead_signal}')
[ -z "$signal" ] || fail "the chat died of signal $signal"
[ -z "$status" ] || [ "$status" = 0 ] || fail "exit status $status"
echo "chat_tmux: prompt, Ctrl-C at the prompt and mid-reply, /save and Ctrl-D work in a terminal"
