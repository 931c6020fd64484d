#!/usr/bin/env bash
# Regenerates expected.txt: for each line of cases.txt, llama.cpp's llama-quantize is run
# on the model and the sha256 over its sorted per-tensor hashes
# (tests/tools/gguf_tensor_hashes.py --combined) is recorded; a run llama-quantize
# refuses is recorded as "error". tests/cli/quantize_llamacpp.sh holds weft quantize to it.
# usage: make_expected.sh LLAMA_CPP_BIN_DIR SHARED_DIR WORK_DIR > expected.txt
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
grep -v '^#' "$here/cases.txt" | while read -r model flags type; do
  [ -n "$model" ] || continue
  in=$(model_path "$model")
  out="$work/ref-$model-$type.gguf"
  args=()
  [ "$flags" = "-" ] || args=("$flags")
  if "$bin/llama-quantize" "${args[@]}" "$in" "$out" "$type" 2 > "$work/ref.log" 2>&1; then
    hash=$(python3 "$tools/gguf_tensor_hashes.py" --combined "$out")
  else
    hash=error
  fi
  echo "$model $flags $type $hash"
  rm -f "$out"
done
