#!/usr/bin/env bash
# Importance matrices against llama.cpp (test data: tests/data/quantize/README.md):
#  1. weft imatrix on each model of imatrix_chunking.txt, over the same calibration text
#     and chunking as the committed llama-imatrix output imatrix/MODEL.imatrix, gives the
#     same entries, call counts and values (within float tolerance: the two forward
#     passes round differently);
#  2. weft quantize --imatrix imatrix/MODEL.imatrix writes the same tensor bytes as
#     llama-quantize --imatrix did (imatrix_expected.txt), for every case;
#  3. a matrix weft wrote drives weft quantize too, and changes the bytes (the weights
#     are used), and the output records quantize.imatrix.* metadata.
# usage: quantize_imatrix.sh WEFT SHARED_DIR WORK_DIR
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

fail=0
head -c 20000 "$shared/models/text/wiki.test.raw" > "$work/calib.txt"
while read -r model ctx chunks; do
  case $model in ''|'#'*) continue ;; esac
  # stories260K is F32 (both sides multiply in f32); the synthetic models are F16, where
  # llama.cpp rounds each matmul input to f16 and weft does not: a looser bar.
  rtol=2e-3; [ "$model" = stories ] || rtol=3e-2
  if ! "$weft" imatrix "$(model_path "$model")" -f "$work/calib.txt" -c "$ctx" --chunks "$chunks" -t 2 \
       -o "$work/$model.imatrix" > "$work/log" 2>&1; then
    echo "FAIL: weft imatrix $model"; tail -3 "$work/log"; fail=1; continue
  fi
  if python3 "$tools/compare_imatrix.py" --rtol "$rtol" "$work/$model.imatrix" "$data/imatrix/$model.imatrix" > "$work/cmp"; then
    echo "ok: weft imatrix $model matches llama-imatrix: $(cat "$work/cmp")"
  else
    echo "FAIL: weft imatrix $model vs llama-imatrix:"; cat "$work/cmp"; fail=1
  fi
done < "$data/imatrix_chunking.txt"

n=0
while read -r model flags type want; do
  case $model in ''|'#'*) continue ;; esac
  in=$(model_path "$model")
  out="$work/$model-$type.gguf"
  args=(--imatrix "$data/imatrix/$model.imatrix")
  [ "$flags" = "-" ] || args+=("$flags")
  n=$((n + 1))
  if "$weft" quantize "${args[@]}" -t 2 "$in" "$out" --type "$type" > "$work/log" 2>&1; then
    got=$(python3 "$tools/gguf_tensor_hashes.py" --combined "$out")
  else
    got=error
  fi
  if [ "$got" = "$want" ]; then
    echo "ok: --imatrix $model $flags $type ($got)"
  else
    echo "FAIL: --imatrix $model $flags $type: weft $got, llama-quantize $want"
    tail -3 "$work/log"
    fail=1
  fi
  rm -f "$out"
done < "$data/imatrix_expected.txt"
[ "$n" -ge 15 ] || { echo "FAIL: only $n cases read"; exit 1; }

# weft's own matrix: used (bytes differ from RTN), recorded in the metadata, loadable.
tk=$(model_path tinyk)
"$weft" quantize -t 2 --pure "$tk" "$work/rtn.gguf" --type Q4_K_S > /dev/null 2>&1
"$weft" quantize -t 2 --pure --imatrix "$work/tinyk.imatrix" "$tk" "$work/imx.gguf" --type Q4_K_S > "$work/log" 2>&1 ||
  { echo "FAIL: weft quantize with weft's matrix"; cat "$work/log"; fail=1; }
if [ "$(python3 "$tools/gguf_tensor_hashes.py" --combined "$work/rtn.gguf")" = \
     "$(python3 "$tools/gguf_tensor_hashes.py" --combined "$work/imx.gguf")" ]; then
  echo "FAIL: --imatrix changed no byte"; fail=1
fi
"$weft" info "$work/imx.gguf" > "$work/info" 2>&1 || { echo "FAIL: weft info"; cat "$work/info"; fail=1; }
grep -aq "quantize.imatrix.entries_count" "$work/imx.gguf" || { echo "FAIL: no quantize.imatrix metadata"; fail=1; }
if "$weft" quantize -t 2 --imatrix "$work/nope.dat" "$tk" "$work/x.gguf" --type Q4_0 > "$work/err" 2>&1; then
  echo "FAIL: a missing --imatrix file was accepted"; fail=1
fi
echo "ok: weft's matrix used and recorded"
rm -f "$work"/*.gguf
exit $fail
