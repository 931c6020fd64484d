#!/usr/bin/env bash
# StreamingLLM's figure on the trained tiny models (BENCHMARKS.md, "Attention sinks +
# window"): WikiText-2 fed token by token past each model's context under dense attention,
# a plain window and sinks + window; writes docs/streaming_<model>.svg / .csv and prints
# each run's table.
#   bench/streaming_ppl.sh WEFT_BINARY [SHARED_DIR] [OUT_DIR] [TOKENS] [THREADS]
set -euo pipefail
weft=${1:?weft binary}
shared=${2:-../shared}
out=${3:-docs}
tokens=${4:-20000}
threads=${5:-2}
text="$shared/models/text/wiki.test.raw"
# model | short name | sinks | window (about half the context, as the paper's 4 + 1020 for 4k models... see BENCHMARKS.md)
runs=(
  "$shared/models/stories260K/stories260K.gguf stories260K 4 256"
  "$shared/models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf tinyllama-v0 4 1024"
)
for r in "${runs[@]}"; do
  read -r model name sinks window <<<"$r"
  echo "== $name: $tokens tokens, --kv-sinks $sinks --kv-window $window"
  "$weft" perplexity "$model" -f "$text" -t "$threads" --stream "$tokens" --stream-policies dense,window,sinks \
    --kv-sinks "$sinks" --kv-window "$window" --curve-bucket 250 \
    --curve-csv "$out/streaming_$name.csv" --curve-svg "$out/streaming_$name.svg"
done
