# Checks shared by the MPI serving tests (tensor_parallel.sh, pipeline_parallel.sh) against
# a server that start_weft_server (lib/weft_server.sh) launched under mpirun: $base,
# $server_pid, $work and fail() come from the caller.

# Batch invariance per layout: a request's logprobs (5 alternatives a token) are the same
# bits alone and among 7 other requests in the same steps.
# usage: check_logprobs_batch_invariant LABEL MAX_TOKENS OTHERS_MAX_TOKENS
check_logprobs_batch_invariant() {
  local label=$1 n=$2 m=$3 alone together i
  local req="{\"prompt\": \"Once upon a time\", \"max_tokens\": $n, \"temperature\": 0, \"logprobs\": 5}"
  local lp="import json, sys; print(json.dumps(json.load(sys.stdin)['choices'][0]['logprobs']))"
  local others=()
  alone=$(curl -s "$base/v1/completions" -d "$req" | python3 -c "$lp") || fail "$label: no logprobs"
  for i in 1 2 3 4 5 6 7; do
    curl -s "$base/v1/completions" -d "{\"prompt\": \"Tom and Sue $i\", \"max_tokens\": $m, \"ignore_eos\": true}" > /dev/null &
    others+=($!)
  done
  together=$(curl -s "$base/v1/completions" -d "$req" | python3 -c "$lp")
  wait "${others[@]}"
  [ "$alone" = "$together" ] || fail "$label: logprobs differ alone and in a batch"
}

# A rank that dies: rank 1 is killed while a long request runs; the job must end non-zero
# within 20 s, the request with finish_reason "error" (the server's way for a request the
# engine could not finish), and the server log must say why.
check_killed_rank() {
  local rank1="" pid inflight start
  for pid in $(pgrep -P "$server_pid" || true); do
    tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && rank1=$pid
  done
  [ -n "$rank1" ] || fail "no rank process under mpirun"
  ( curl -s -m 60 "$base/v1/completions" -d '{"prompt": "Once", "max_tokens": 1000, "temperature": 0, "ignore_eos": true}' \
    > "$work/inflight.txt" 2>&1 || true ) &
  inflight=$!
  sleep 1
  kill -KILL "$rank1"
  start=$(date +%s)
  while kill -0 "$server_pid" 2>/dev/null; do
    [ $(( $(date +%s) - start )) -lt 20 ] || fail "the job still runs 20 s after rank 1 was killed"
    sleep 0.2
  done
  if wait "$server_pid"; then fail "the job exited 0 after a rank died"; fi
  wait "$inflight"
  grep -q '"finish_reason":"error"' "$work/inflight.txt" || fail "the in-flight request: $(head -c 300 "$work/inflight.txt")"
  grep -q "the MPI job is ending" "$work/server.log" || fail "no reason in the server log: $(tail -n 5 "$work/server.log")"
  echo "killed rank: the job ended in $(( $(date +%s) - start )) s; log: $(grep -i "rank\|abort\|killed" "$work/server.log" | head -n 3 | tr '\n' ' ')"
}
