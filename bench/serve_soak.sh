#!/usr/bin/env bash
# Soak: weft serve MODEL under C concurrent streaming clients (weft bench serve) for at
# least SECONDS, sampling the server's RSS every second. Prints the bench summary, the
# requests that failed (must be 0), whether the server is still alive, and RSS after the
# first 10 s (min / max / last), so "RSS flat" can be read off. Loopback only.
#   bench/serve_soak.sh WEFT MODEL [CONCURRENCY=64] [SECONDS=60] [PORT=18431] [SERVE FLAGS...]
# The KV pool is allocated once but its pages become resident as blocks are first used,
# so RSS climbs until every block has been used once: give --kv-cache-mem to bound it.
# Requests: 64-word prompts, 32 output tokens (ignore_eos), in passes of 4 x C until
# SECONDS have passed.
set -euo pipefail
weft=$1 model=$2 conc=${3:-64} seconds=${4:-60} port=${5:-18431}
shift $(( $# < 5 ? $# : 5 ))
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

"$weft" serve "$model" --port "$port" --max-seqs "$conc" -t 2 "$@" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/health" > /dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; echo "soak: server died while loading"; exit 1; }
  sleep 0.5
done

( while kill -0 "$server" 2>/dev/null; do
    echo "$(date +%s) $(awk '/VmRSS/ {print $2}' "/proc/$server/status" 2>/dev/null)"
    sleep 1
  done ) > "$work/rss.txt" &
sampler=$!

start=$(date +%s) passes=0 failed=0 done_reqs=0
while [ $(( $(date +%s) - start )) -lt "$seconds" ]; do
  passes=$((passes + 1))
  "$weft" bench serve --url "http://127.0.0.1:$port" -n $((4 * conc)) -c "$conc" --prompt-len 64 --output-len 32 \
    --seed "$passes" --json "$work/pass$passes.json" > "$work/pass$passes.txt" 2>&1 || { cat "$work/pass$passes.txt"; }
  read -r ok bad < <(python3 - "$work/pass$passes.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
reqs = [r for p in j["passes"] for r in p["requests"]]
sent = sum(p["summary"]["sent"] for p in j["passes"])
ok = sum(1 for r in reqs if r["ok"])
print(ok, sent - ok)  # every request sent must have come back whole
PY
)
  done_reqs=$((done_reqs + ok)) failed=$((failed + bad))
done
elapsed=$(( $(date +%s) - start ))
alive=yes; kill -0 "$server" 2>/dev/null || alive=no
kill "$sampler" 2>/dev/null || true
tail -n 12 "$work/pass$passes.txt"
python3 - "$work/rss.txt" "$start" <<PY
import sys
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 2]
t0 = int(sys.argv[2])
late = [(int(r[0]) - t0, int(r[1]) / 1024) for r in rows if int(r[0]) >= t0 + 10]
if late:
    v = [m for _, m in late]
    half = [m for t, m in late if t >= late[-1][0] / 2]
    print("server RSS after the first 10 s: min %.0f MiB, max %.0f MiB, last %.0f MiB (%d samples); second half of the run: %.0f .. %.0f MiB"
          % (min(v), max(v), v[-1], len(v), min(half), max(half)))
PY
echo "soak: $(basename "$model") c=$conc: $passes passes in ${elapsed}s, $done_reqs requests ok, $failed failed, server alive: $alive"
[ "$failed" -eq 0 ] && [ "$alive" = yes ]
