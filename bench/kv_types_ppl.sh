#!/usr/bin/env bash
# Perplexity and KL divergence against an F16 KV cache for every --kv-type, on the trained
# tiny models at several contexts (BENCHMARKS.md, "KV cache types").
#   bench/kv_types_ppl.sh WEFT_BINARY [SHARED_DIR] [WORK_DIR]
# Prints a markdown table: model, context, KV type, perplexity +- stderr, mean / max KL
# (nats) and top-1 agreement against F16 KV. The KL base files (2 bytes x vocab x scored
# position) go to WORK_DIR and are removed afterwards.
set -euo pipefail
weft=${1:?weft binary}
shared=${2:-../shared}
work=${3:-$(mktemp -d)}
mkdir -p "$work"
text="$shared/models/text/wiki.test.raw"
# model | context | chunks (64k scored positions per row for stories260K, about 8k for TinyLLama-v0)
runs=(
  "$shared/models/stories260K/stories260K.gguf 128 1000"
  "$shared/models/stories260K/stories260K.gguf 512 250"
  "$shared/models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf 128 128"
  "$shared/models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf 512 32"
  "$shared/models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf 2048 8"
)
# KV_TYPES overrides the list (f16 first: it writes the KL base); "K,V" for mixed K and V.
types=(${KV_TYPES:-f16 bf16 f32 q8 fp8 q4 q8,q4})
echo "| model | ctx | chunks | kv type | perplexity | KL mean (nats) | KL max | top-1 agree |"
echo "|---|---:|---:|---|---:|---:|---:|---:|"
for r in "${runs[@]}"; do
  read -r model ctx chunks <<<"$r"
  name=$(basename "$model" .gguf)
  base="$work/kl-$name-$ctx.bin"
  rm -f "$base"
  for t in "${types[@]}"; do
    out=$("$weft" perplexity "$model" -f "$text" -c "$ctx" --chunks "$chunks" --kv-type "$t" --kl-base "$base" 2>/dev/null)
    ppl=$(sed -n 's/^Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\)/\1 ± \2/p' <<<"$out")
    n=$(sed -n 's/.*(\([0-9]*\) chunks of.*/\1/p' <<<"$out")
    if grep -q "kl divergence" <<<"$out"; then
      kl=$(sed -n 's/.*: mean \([0-9.e-]*\), max \([0-9.e-]*\) nats; top-1 agreement \([0-9.]*\)%/\1 | \2 | \3 %/p' <<<"$out")
    else
      kl="(base) | | "
    fi
    echo "| $name | $ctx | $n | $t | $ppl | $kl |"
  done
  rm -f "$base"
done
