#!/usr/bin/env bash
# The cost of a short multi-token pass (what a verification pass of speculative decoding
# is), weft beside llama.cpp on the same file in the same run: pp1 and pp5 (one forward
# pass of 1 / 5 prompt tokens, logits of the last row) from `weft bench` and from
# llama.cpp's llama-bench, interleaved for ROUNDS rounds, plus weft's verify1 / verify5
# (logits of every row, as the engine's verification uses). Prints each tool's t/s lines.
#   bench/verify_vs_llama.sh WEFT LLAMA_BENCH MODEL [ROUNDS] [THREADS]
set -euo pipefail
weft=${1:?weft binary} llama=${2:?llama-bench binary} model=${3:?model} rounds=${4:-3} threads=${5:-2}
echo "# $(date -u +%FT%TZ) $(uptime | sed 's/.*load/load/') | $model | threads $threads"
for r in $(seq 1 "$rounds"); do
  echo "## round $r: weft"
  "$weft" bench "$model" -p 1,5 -n 0 --verify-tokens 1,5 -r 7 -t "$threads" 2>/dev/null | grep -E '\| +(pp|verify)[0-9]+ '
  echo "## round $r: llama.cpp"
  "$llama" -m "$model" -p 1,5 -n 0 -r 7 -t "$threads" 2>/dev/null | grep -E '\| +pp[0-9]+ '
done
