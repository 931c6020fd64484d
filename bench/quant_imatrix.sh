#!/usr/bin/env bash
# Round-to-nearest against importance-matrix, GPTQ and AWQ quantisation (BENCHMARKS.md,
# "Calibrated quantisation"): for each trained tiny model, an importance matrix from the
# first 100 KB of wiki.test.raw (weft imatrix), then for each type a quantised file
# without the matrix (rtn), with it (imatrix), and by GPTQ with the same 100 KB as its
# calibration text (weft quantize --method gptq, every chunk of the model's context;
# gptq-ao: the same with --act-order), by AWQ (awq: --method awq, same calibration) and
# with SmoothQuant's folded scales (smooth0.5, smooth0.8: --smooth ALPHA, same calibration),
# each scored on a disjoint part of the text (from byte 400000):
# perplexity and KL divergence against the unquantised model's logits (weft perplexity
# --kl-base). TinyLLama-v0 exists only as Q4_0: it is the base, requantised
# (--allow-requantize).
#   bench/quant_imatrix.sh WEFT_BINARY [SHARED_DIR] [WORK_DIR]
# Prints a markdown table: model, type, method, file size, perplexity, KL mean / max,
# top-1 agreement, quantisation wall time (s, calibration included).
# METHODS="rtn imatrix gptq gptq-ao" (default) picks the methods (also awq, smooth0.5,
# smooth0.8, ...: smoothALPHA); TYPES the types; CALIB_CHUNKS (default -1: all) caps the
# calibration chunks of gptq/awq/smooth; SYNTH (default tinyk) the synth_gguf.py preset of
# the synthetic F16 model (s135m: SmolLM-135M's shape, 30 layers, grouped-query attention).
set -euo pipefail
weft=${1:?weft binary}
shared=${2:-../shared}
work=${3:-$(mktemp -d)}
mkdir -p "$work"
text="$shared/models/text/wiki.test.raw"
head -c 100000 "$text" > "$work/calib.txt"
tail -c +400001 "$text" > "$work/eval.txt" || true
# model | context | scored chunks | extra quantize flags | types (TYPE/FLAG/FLAG...: extra
# flags for that type). stories260K's ffn_down rows of 172 fit no block type, and its and
# TinyLLama-v0's rows of 64 fit no K-quant block of 256: llama.cpp's 2-3-bit mixes put
# IQ4_NL there (and F16 where 32 does not divide the rows either), as weft quantize does;
# GPTQ works on the K-typed tensors and rounds the IQ4_NL ones to nearest. TinyLLama-v0's ffn_down, rows of 256, is also tried at 3
# and 2 bits on its own. The synthetic model: shared/tools/synth_gguf.py (SYNTH preset, F16,
# random weights, written into WORK_DIR). MODELS=PATTERN runs only the models whose file
# name matches.
preset=${SYNTH:-tinyk}
synth="$work/$preset-f16.gguf"
[ -f "$synth" ] || python3 "$shared/tools/synth_gguf.py" --preset "$preset" --type F16 -o "$synth" > /dev/null
cc=${CALIB_CHUNKS:--1}
runs=(
  "$shared/models/stories260K/stories260K.gguf 128 200 - Q2_K Q3_K_M Q4_0/--pure/--tensor-type/ffn_down=F16 Q4_K_M Q5_K_M"
  "$shared/models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf 256 20 --allow-requantize Q2_K Q3_K_M Q4_K_M Q5_K_M Q4_K_M/--tensor-type/ffn_down=Q3_K Q4_K_M/--tensor-type/ffn_down=Q2_K"
  "$synth 256 20 - Q2_K Q3_K_M Q4_0 Q4_K_M"
)
read -r -a methods <<<"${METHODS:-rtn imatrix gptq gptq-ao}"
echo "| model | type | method | size (KiB) | perplexity | KL mean (nats) | KL max | top-1 agree | quantise (s) |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
score() {  # model file, label columns
  local out
  out=$("$weft" perplexity "$1" -f "$work/eval.txt" -c "$ctx" --chunks "$chunks" --kl-base "$base" -t 2 2>/dev/null)
  ppl=$(sed -n 's/^Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\)/\1 ± \2/p' <<<"$out")
  if grep -q "kl divergence" <<<"$out"; then
    kl=$(sed -n 's/.*: mean \([0-9.e-]*\), max \([0-9.e-]*\) nats; top-1 agreement \([0-9.]*\)%/\1 | \2 | \3 %/p' <<<"$out")
  else
    kl="(base) | | "
  fi
  echo "| $name | $2 | $(( $(stat -c %s "$1") / 1024 )) | $ppl | $kl | ${3:-} |"
}
for r in "${runs[@]}"; do
  read -r model ctx chunks flags types_str <<<"$r"
  read -r -a types <<<"${TYPES:-$types_str}"
  name=$(basename "$model" .gguf)
  [[ $name =~ ${MODELS:-.} ]] || continue
  base="$work/kl-$name.bin"
  rm -f "$base"
  qflags=(); [ "$flags" = "-" ] || qflags=("$flags")
  if [[ " ${methods[*]} " == *" imatrix "* ]]; then
    "$weft" imatrix "$model" -f "$work/calib.txt" -c "$ctx" -t 2 -o "$work/$name.imatrix" > /dev/null 2>&1
  fi
  score "$model" "unquantised | -"
  for spec in "${types[@]}"; do
    IFS=/ read -r -a parts <<<"$spec"
    t=${parts[0]}
    tflags=("${parts[@]:1}")
    label=${spec//\// }
    for method in "${methods[@]}"; do
      case $method in
        rtn) im=() ;;
        imatrix) im=(--imatrix "$work/$name.imatrix") ;;
        gptq) im=(--method gptq --calib "$work/calib.txt" --calib-ctx "$ctx" --calib-chunks "$cc") ;;
        gptq-ao) im=(--method gptq --act-order --calib "$work/calib.txt" --calib-ctx "$ctx" --calib-chunks "$cc") ;;
        awq) im=(--method awq --calib "$work/calib.txt" --calib-ctx "$ctx" --calib-chunks "$cc") ;;
        smooth*) im=(--calib "$work/calib.txt" --calib-ctx "$ctx" --calib-chunks "$cc" --smooth "${method#smooth}") ;;
      esac
      q="$work/$name-$t-$method.gguf"
      t0=$(date +%s.%N)
      if "$weft" quantize "$model" "$q" --type "$t" -t 2 "${qflags[@]}" "${im[@]}" "${tflags[@]}" > "$work/q.log" 2>&1; then
        secs=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')")
        score "$q" "$label | $method" "$secs"
      else
        echo "| $name | $label | $method | refused: $(tail -1 "$work/q.log" | cut -c1-80) | | | | | |"
      fi
      rm -f "$q"
    done
  done
  rm -f "$base"
done
