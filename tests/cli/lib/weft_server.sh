# Sourced by tests/cli scripts: start `weft serve` on a free loopback port and wait until
# /health answers 200. Needs $weft, $work and a fail() function.
#   start_weft_server MODEL [SERVE FLAGS...]   -> sets $server_pid, $port, $base
# The server's output goes to $work/server.log; an EXIT trap kills it.
start_weft_server() {
  "$weft" serve "$@" --host 127.0.0.1 --port 0 > "$work/server.log" 2>&1 &
  server_pid=$!
  trap 'kill -KILL $server_pid 2>/dev/null || true' EXIT
  port=""
  for _ in $(seq 1 100); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$work/server.log" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    kill -0 $server_pid 2>/dev/null || fail "server exited early: $(tail -n 5 "$work/server.log")"
    sleep 0.1
  done
  [ -n "$port" ] || fail "server did not report its port"
  base="http://127.0.0.1:$port"
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/health")" = 200 ] && return 0
    sleep 0.1
  done
  fail "/health never became 200"
}
