#!/usr/bin/env bash
# Regenerates the importance-matrix test data: imatrix/MODEL.imatrix (llama-imatrix's
# matrix of each model over the calibration text) and imatrix_expected.txt (for each line
# of imatrix_cases.txt, the hash of llama-quantize --imatrix's output, as in
# make_expected.sh). tests/cli/quantize_imatrix.sh holds weft to both.
# usage: make_imatrix_expected.sh LLAMA_CPP_BIN_DIR SHARED_DIR WORK_DIR > imatrix_expected.txt
# KEEP_IMATRIX=1: reuse the committed imatrix/MODEL.imatrix instead of running llama-imatrix
# (to hash new cases against the same matrices).
set -euo pipefail
bin=$1 shared=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
tools="$here/../../tools"
mkdir -p "$work"
export LD_LIBRARY_PATH="$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
model_path() {
  case $1 in
    stories) echo "$shared/models/stories260K/stories260K.gguf" ;;
    *) local f="$work/$1-f16.gguf"
       [ -f "$f" ] || python3 "$shared/tools/synth_gguf.py" --preset "$1" --type F16 -o "$f" >/dev/null
       echo "$f" ;;
  esac
}
# The calibration text: the first 20000 bytes of wiki.test.raw. Chunking per model
# (imatrix_chunking.txt): stories260K 4 chunks of 128 tokens, the synthetic ones 2 of 64.
head -c 20000 "$shared/models/text/wiki.test.raw" > "$work/calib.txt"
while [ "${KEEP_IMATRIX:-0}" != 1 ] && read -r model ctx chunks; do
  case $model in ''|'#'*) continue ;; esac
  (cd "$work" && "$bin/llama-imatrix" -m "$(model_path "$model")" -f calib.txt -c "$ctx" --chunks "$chunks" \
     -o "$here/imatrix/$model.imatrix" -t 2 > "$work/imatrix-$model.log" 2>&1)
done < "$here/imatrix_chunking.txt"
grep -v '^#' "$here/imatrix_cases.txt" | while read -r model flags type; do
  [ -n "$model" ] || continue
  in=$(model_path "$model")
  out="$work/ref-$model-$type.gguf"
  args=(--imatrix "$here/imatrix/$model.imatrix")
  [ "$flags" = "-" ] || args+=("$flags")
  if "$bin/llama-quantize" "${args[@]}" "$in" "$out" "$type" 2 > "$work/ref.log" 2>&1; then
    hash=$(python3 "$tools/gguf_tensor_hashes.py" --combined "$out")
  else
    hash=error
  fi
  echo "$model $flags $type $hash"
  rm -f "$out"
done
