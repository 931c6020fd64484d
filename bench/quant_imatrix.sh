#!/usr/bin/env bash
# Round-to-nearest against importance-matrix quantisation (BENCHMARKS.md, "Quantisation
# with an importance matrix"): for each trained tiny model, an importance matrix from
# the first 100 KB of wiki.test.raw (weft imatrix), then for each type a quantised file
# without and with the matrix, scored on a disjoint part of the text (from byte 400000):
# perplexity and KL divergence against the unquantised model's logits (weft perplexity
# --kl-base). TinyLLama-v0 exists only as Q4_0: it is the base, requantised
# (--allow-requantize).
#   bench/quant_imatrix.sh WEFT_BINARY [SHARED_DIR] [WORK_DIR]
# Prints a markdown table: model, type, method, file size, perplexity, KL mean / max,
# top-1 agreement.
set -euo pipefail
weft=${1:?weft binary}
shared=${2:-../shared}
work=${3:-$(mktemp -d)}
mkdir -p "$work"
text="$shared/models/text/wiki.test.raw"
head -c 100000 "$text" > "$work/calib.txt"
tail -c +400001 "$text" > "$work/eval.txt"
# model | context | scored chunks | extra quantize flags
runs=(
  "$shared/models/stories260K/stories260K.gguf 128 200 -"
  "$shared/models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf 256 40 --allow-requantize"
)
types=(Q2_K Q3_K_M Q4_0 Q4_K_M)
echo "| model | type | method | size (KiB) | perplexity | KL mean (nats) | KL max | top-1 agree |"
echo "|---|---|---|---:|---:|---:|---:|---:|"
score() {  # model file, label columns
  local out
  out=$("$weft" perplexity "$1" -f "$work/eval.txt" -c "$ctx" --chunks "$chunks" --kl-base "$base" -t 2 2>/dev/null)
  ppl=$(sed -n 's/^Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\)/\1 ± \2/p' <<<"$out")
  if grep -q "kl divergence" <<<"$out"; then
    kl=$(sed -n 's/.*: mean \([0-9.e-]*\), max \([0-9.e-]*\) nats; top-1 agreement \([0-9.]*\)%/\1 | \2 | \3 %/p' <<<"$out")
  else
    kl="(base) | | "
  fi
  echo "| $name | $2 | $(( $(stat -c %s "$1") / 1024 )) | $ppl | $kl |"
}
for r in "${runs[@]}"; do
  read -r model ctx chunks flags <<<"$r"
  name=$(basename "$model" .gguf)
  base="$work/kl-$name.bin"
  rm -f "$base"
  qflags=(); [ "$flags" = "-" ] || qflags=("$flags")
  "$weft" imatrix "$model" -f "$work/calib.txt" -c "$ctx" -t 2 -o "$work/$name.imatrix" > /dev/null 2>&1
  score "$model" "unquantised | -"
  for t in "${types[@]}"; do
    for method in rtn imatrix; do
      im=(); [ "$method" = rtn ] || im=(--imatrix "$work/$name.imatrix")
      q="$work/$name-$t-$method.gguf"
      if "$weft" quantize "${qflags[@]}" "${im[@]}" -t 2 "$model" "$q" --type "$t" > "$work/q.log" 2>&1; then
        score "$q" "$t | $method"
      else
        echo "| $name | $t | $method | refused: $(tail -1 "$work/q.log" | cut -c1-80) | | | | |"
      fi
      rm -f "$q"
    done
  done
  rm -f "$base"
done
