#!/usr/bin/env bash
# weft quantize --method gptq on stories260K (F32): the calibration runs, the block
# tensors are quantised by GPTQ (the log counts them), the file differs from the
# round-to-nearest one (and --act-order's from both), loads and scores in weft
# perplexity, and on a text disjoint from
# the calibration its KL divergence from the unquantised model is not worse than 1.2x
# round-to-nearest's; flag misuse is refused with a message naming the flag.
# usage: quantize_gptq.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
model="$shared/models/stories260K/stories260K.gguf"
text="$shared/models/text/wiki.test.raw"
head -c 30000 "$text" > "$work/calib.txt"
head -c 440000 "$text" | tail -c 40000 > "$work/eval.txt"
fail=0

"$weft" quantize -t 2 "$model" "$work/rtn.gguf" --type Q4_K_M > "$work/rtn.log" 2>&1 || { cat "$work/rtn.log"; exit 1; }
if ! "$weft" quantize -t 2 --method gptq --calib "$work/calib.txt" --calib-ctx 128 --calib-chunks 32 \
     "$model" "$work/gptq.gguf" --type Q4_K_M > "$work/gptq.log" 2>&1; then
  echo "FAIL: weft quantize --method gptq"; cat "$work/gptq.log"; exit 1
fi
n=$(sed -n 's/.*gptq: \([0-9]*\) tensors from \([0-9]*\) Hessians.*/\1 \2/p' "$work/gptq.log")
read -r tensors groups <<<"${n:-0 0}"
# stories260K: 5 layers of q, k, v, o, gate, up (+ down where its type is a block type).
if [ "$tensors" -ge 30 ] && [ "$groups" -ge 15 ]; then
  echo "ok: $tensors tensors quantised by GPTQ from $groups Hessians"
else
  echo "FAIL: expected >= 30 GPTQ tensors from >= 15 Hessians:"; cat "$work/gptq.log"; fail=1
fi
if cmp -s "$work/rtn.gguf" "$work/gptq.gguf"; then echo "FAIL: GPTQ wrote the round-to-nearest bytes"; fail=1; fi
if ! "$weft" quantize -t 2 --method gptq --act-order --calib "$work/calib.txt" --calib-ctx 128 --calib-chunks 32 \
     "$model" "$work/gptq-ao.gguf" --type Q4_K_M > "$work/gptq-ao.log" 2>&1; then
  echo "FAIL: weft quantize --method gptq --act-order"; cat "$work/gptq-ao.log"; exit 1
fi
if cmp -s "$work/gptq.gguf" "$work/gptq-ao.gguf"; then echo "FAIL: --act-order changed nothing"; fail=1; fi

kl() {
  "$weft" perplexity "$1" -f "$work/eval.txt" -c 128 --chunks 20 --kl-base "$work/base.kl" -t 2 2>/dev/null |
    sed -n 's/.*: mean \([0-9.e-]*\), max.*/\1/p'
}
rm -f "$work/base.kl"
"$weft" perplexity "$model" -f "$work/eval.txt" -c 128 --chunks 20 --kl-base "$work/base.kl" -t 2 > /dev/null 2>&1
kl_rtn=$(kl "$work/rtn.gguf")
for v in gptq gptq-ao; do
  kl_gptq=$(kl "$work/$v.gguf")
  if [ -z "$kl_rtn" ] || [ -z "$kl_gptq" ]; then
    echo "FAIL: perplexity --kl-base gave no KL (rtn '$kl_rtn', $v '$kl_gptq')"; fail=1
  elif python3 -c "import sys; sys.exit(0 if $kl_gptq <= 1.2 * $kl_rtn else 1)"; then
    echo "ok: Q4_K_M KL from F32: rtn $kl_rtn, $v $kl_gptq"
  else
    echo "FAIL: $v's KL $kl_gptq is above 1.2x round-to-nearest's $kl_rtn"; fail=1
  fi
done

expect_error() {  # pattern, args...
  local pattern=$1; shift
  if "$weft" quantize -t 2 "$@" > "$work/err.log" 2>&1; then
    echo "FAIL: accepted: $*"; fail=1
  elif grep -q -- "$pattern" "$work/err.log"; then
    echo "ok: refused ($pattern)"
  else
    echo "FAIL: $* did not name $pattern:"; cat "$work/err.log"; fail=1
  fi
}
expect_error "--calib" --method gptq "$model" "$work/x.gguf" --type Q4_0
expect_error "--calib" --calib "$work/calib.txt" "$model" "$work/x.gguf" --type Q4_0
expect_error "--method" --method bogus --calib "$work/calib.txt" "$model" "$work/x.gguf" --type Q4_0
expect_error "--imatrix" --method gptq --calib "$work/calib.txt" --imatrix "$work/none.dat" "$model" "$work/x.gguf" --type Q4_0
exit $fail
