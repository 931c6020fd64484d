#!/usr/bin/env bash
# Heavy hitters against the windows at the same KV budget (BENCHMARKS.md, "Heavy hitters"):
# WikiText-2 streamed through one sequence under --kv-budget 10 / 20 / 50 % of a stated
# context, for h2o (blocks of 16), h2o-token (block size 1: the token-level reference),
# window and sinks 4 + window, plus dense; F32 KV (so that the token-level run's many
# re-rotations add no rounding). Writes docs/h2o_<model>.tsv (one row per run) and
# docs/h2o_<model>.svg (bench/h2o_svg.py), and prints the tables.
#   bench/h2o_ppl.sh WEFT_BINARY [SHARED_DIR] [OUT_DIR] [THREADS] [ONLY_MODEL_NAME]
set -euo pipefail
weft=${1:?weft binary}
shared=${2:-../shared}
out=${3:-docs}
threads=${4:-2}
only=${5:-}
text="$shared/models/text/wiki.test.raw"
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# model | name | context (stated: stories260K was trained on 512-token sequences, its GGUF says
# 2048; TinyLLama-v0's is 2048) | tokens streamed | tokens per pass
runs=(
  "$shared/models/stories260K/stories260K.gguf stories260K 512 2048 1"
  "$shared/models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf tinyllama-v0 2048 4096 16"
)
for r in "${runs[@]}"; do
  read -r model name ctx tokens chunk <<<"$r"
  [[ -z "$only" || "$only" == "$name" ]] || continue
  tsv="$out/h2o_$name.tsv"
  printf "model\tcontext\ttokens\tchunk\tbudget_pct\tbudget\tpolicy\tlogppl_all\tlogppl_first_ctx\tlogppl_after\tmean_kv\tblocks\tseconds\n" > "$tsv"
  run() {  # run PCT BUDGET ARGS...: one weft run, its rows appended to the TSV
    local pct=$1 budget=$2; shift 2
    "$weft" perplexity "$model" -f "$text" -t "$threads" --stream "$tokens" --stream-chunk "$chunk" --kv-type f32 \
      --curve-bucket "$ctx" --curve-csv "$tmp/c.csv" "$@" > "$tmp/t.txt" 2> "$tmp/e.txt" || { cat "$tmp/e.txt"; exit 1; }
    cat "$tmp/t.txt"
    python3 - "$tmp/t.txt" "$tmp/c.csv" "$name" "$ctx" "$tokens" "$chunk" "$pct" "$budget" >> "$tsv" <<'PY'
import csv, math, sys
table, curves, name, ctx, tokens, chunk, pct, budget = sys.argv[1:]
rows = list(csv.reader(open(curves)))
head, body = rows[0], rows[1:]
n = lambda r: int(r[1]) - int(r[0])
for line in open(table).read().splitlines()[1:]:
    f = line.split()
    policy, nums = " ".join(f[:-8]), f[-8:]
    col = head.index("logppl " + policy)
    first = float(body[0][col])
    after_n = sum(n(r) for r in body[1:])
    after = sum(float(r[col]) * n(r) for r in body[1:]) / after_n if after_n else float("nan")
    print("\t".join([name, ctx, tokens, chunk, pct, budget, policy, "%.5f" % math.log(float(nums[0])),
                     "%.5f" % first, "%.5f" % after, nums[5], nums[4], nums[6]]))
PY
  }
  echo "== $name: context $ctx, $tokens tokens, chunks of $chunk"
  run 100 0 --stream-policies dense
  for pct in 10 20 50; do
    budget=$((ctx * pct / 100))
    run "$pct" "$budget" --kv-budget "$budget" --kv-sinks 4 --stream-policies h2o,h2o-token,window,sinks
  done
  python3 "$here/h2o_svg.py" "$tsv" "$out/h2o_$name.svg"
done
