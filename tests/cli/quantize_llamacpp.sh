#!/usr/bin/env bash
# weft quantize writes the same tensor bytes as llama.cpp's llama-quantize: for every
# line of tests/data/quantize/expected.txt (model, flags, type, sha256 over the sorted
# per-tensor hashes that llama-quantize's output had; see the README there), weft
# quantize is run with the same flags and its output hashed the same way. A case
# llama-quantize refused ("error") must be refused by weft too. Each output must also
# load in weft (weft info) with general.file_type set.
# usage: quantize_llamacpp.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../data/quantize"
tools="$here/../tools"
cache="$work/../../synth"
mkdir -p "$work" "$cache"

model_path() {
  case $1 in
    stories) echo "$shared/models/stories260K/stories260K.gguf" ;;
    *) local f="$cache/quant-$1-f16.gguf"
       [ -f "$f" ] || python3 "$shared/tools/synth_gguf.py" --preset "$1" --type F16 -o "$f" >/dev/null
       echo "$f" ;;
  esac
}

fail=0 n=0
while read -r model flags type want; do
  case $model in ''|'#'*) continue ;; esac
  in=$(model_path "$model")
  out="$work/$model-$type.gguf"
  args=()
  case $flags in
    -) ;;
    --leave-output-tensor) args=(--leave-output) ;;
    *) args=("$flags") ;;
  esac
  n=$((n + 1))
  if "$weft" quantize "${args[@]}" -t 2 "$in" "$out" --type "$type" > "$work/log" 2>&1; then
    got=$(python3 "$tools/gguf_tensor_hashes.py" --combined "$out")
    "$weft" info "$out" > "$work/info" 2>&1 || { echo "FAIL: weft info cannot read $model $flags $type"; cat "$work/info"; fail=1; }
  else
    got=error
  fi
  if [ "$got" = "$want" ]; then
    echo "ok: $model $flags $type ($got)"
  else
    echo "FAIL: $model $flags $type: weft $got, llama-quantize $want"
    tail -3 "$work/log"
    fail=1
  fi
  rm -f "$out"
done < "$data/expected.txt"
[ "$n" -ge 25 ] || { echo "FAIL: only $n cases read"; exit 1; }

# Refusals name the problem: quantised input without --allow-requantize, the HF copy of
# stories260K to Q8_0 (ffn_down's rows of 172, as from the GGUF), an unknown type.
tk=$(model_path tinyk)
"$weft" quantize -t 2 "$tk" "$work/q8.gguf" --type Q8_0 > /dev/null 2>&1
expect_error() {  # pattern, args...
  local pattern=$1; shift
  if "$weft" quantize "$@" > "$work/err" 2>&1; then echo "FAIL: weft quantize $* succeeded"; fail=1; return; fi
  grep -q -- "$pattern" "$work/err" || { echo "FAIL: weft quantize $*: no '$pattern' in:"; cat "$work/err"; fail=1; }
}
expect_error "allow-requantize" "$work/q8.gguf" "$work/x.gguf" --type Q4_0
expect_error "ffn_down.weight': rows of 172" "$shared/models/stories260K/hf" "$work/x.gguf" --type Q8_0
expect_error "is not one of" "$tk" "$work/x.gguf" --type IQ2_XS
[ ! -e "$work/x.gguf" ] && [ ! -e "$work/x.gguf.tmp" ] || { echo "FAIL: a refused run left a file"; fail=1; }
"$weft" quantize -t 2 --allow-requantize "$work/q8.gguf" "$work/x.gguf" --type Q4_0 > /dev/null 2>&1 ||
  { echo "FAIL: --allow-requantize Q8_0 -> Q4_0"; fail=1; }
echo "ok: refusals and --allow-requantize"
rm -f "$work/q8.gguf" "$work/x.gguf"
exit $fail
