#!/usr/bin/env bash
# weft quantize --method awq and --smooth on stories260K (F32, grouped-query attention):
#  - the fold is exact in float: with a fixed alpha and --type F32 (no rounding) the
#    written file differs from the input (norms, v/up rows and the consumers' columns carry
#    the scales) yet its logits match the unquantised model's as closely as an unchanged
#    F32 rewrite's do (KL ~0, top-1 agreement 100 %); the same for --smooth;
#  - AWQ at Q4_K_M: every group is searched, the file differs from round-to-nearest's,
#    loads, and its KL divergence from the unquantised model on a text disjoint from the
#    calibration is not above round-to-nearest's (x1.05 for the noise of 20 chunks);
#  - SmoothQuant at Q8_0 loads and scores within 1.5x of plain Q8_0's KL;
#  - flag misuse is refused with a message naming the flag.
# usage: quantize_awq.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
model="$shared/models/stories260K/stories260K.gguf"
text="$shared/models/text/wiki.test.raw"
head -c 30000 "$text" > "$work/calib.txt"
head -c 440000 "$text" | tail -c 40000 > "$work/eval.txt"
calib=(--calib "$work/calib.txt" --calib-ctx 128 --calib-chunks 32)
fail=0

quantize() {  # log name, args...
  local log=$1; shift
  if ! "$weft" quantize -t 2 "$@" > "$work/$log.log" 2>&1; then
    echo "FAIL: weft quantize $*"; cat "$work/$log.log"; exit 1
  fi
}
kl_line() {
  "$weft" perplexity "$1" -f "$work/eval.txt" -c 128 --chunks 20 --kl-base "$work/base.kl" -t 2 2>/dev/null |
    grep "kl divergence" || true
}
kl() { sed -n 's/.*: mean \([0-9.e-]*\), max.*/\1/p' <<<"$(kl_line "$1")"; }
rm -f "$work/base.kl"
"$weft" perplexity "$model" -f "$work/eval.txt" -c 128 --chunks 20 --kl-base "$work/base.kl" -t 2 > /dev/null 2>&1

# 1. Folding is exact in float. The floor: an unchanged F32 rewrite of the model scores
# KL mean ~0, max ~4e-4 nats against the base (the KL file's stored logits are not
# exact); a folded model must stay within twice that.
quantize plain-f32 "$model" "$work/plain-f32.gguf" --type F32
floor=$(sed -n 's/.*: mean \([0-9.e-]*\), max \([0-9.e-]*\) nats.*/\2/p' <<<"$(kl_line "$work/plain-f32.gguf")")
echo "floor: an unchanged F32 rewrite scores KL max ${floor:-?}"
quantize awq-f32 "$model" "$work/awq-f32.gguf" --type F32 --method awq --awq-alpha 0.5 "${calib[@]}"
quantize smooth-f32 "$model" "$work/smooth-f32.gguf" --type F32 "${calib[@]}" --smooth 0.5
for v in awq smooth; do
  scaled=$(sed -n 's/.* \([0-9]*\) tensors written with folded .* scales/\1/p' "$work/$v-f32.log")
  line=$(kl_line "$work/$v-f32.gguf")
  mean=$(sed -n 's/.*: mean \([0-9.e-]*\), max \([0-9.e-]*\) nats; top-1 agreement \([0-9.]*\)%/\1 \2 \3/p' <<<"$line")
  read -r kmean kmax agree <<<"${mean:-x x x}"
  # stories260K: 5 layers x (attn_norm, q, k, v, o, ffn_norm, gate, up, down) = 45 scaled tensors.
  if [ "${scaled:-0}" -lt 45 ]; then echo "FAIL: $v: ${scaled:-0} tensors scaled, want >= 45"; cat "$work/$v-f32.log"; fail=1; fi
  if cmp -s "$model" "$work/$v-f32.gguf"; then echo "FAIL: $v wrote the input's bytes"; fail=1; fi
  if python3 -c "import sys; sys.exit(0 if abs($kmean) < 1e-5 and $kmax <= 2 * $floor + 1e-5 and $agree >= 99.9 else 1)" 2>/dev/null; then
    echo "ok: $v fold at F32 ($scaled tensors scaled) keeps the logits: KL mean $kmean, max $kmax, top-1 $agree %"
  else
    echo "FAIL: $v fold changed the float model: '$line'"; fail=1
  fi
done

# 2. AWQ against round to nearest at Q4_K_M.
quantize rtn "$model" "$work/rtn.gguf" --type Q4_K_M
quantize awq "$model" "$work/awq.gguf" --type Q4_K_M --method awq "${calib[@]}"
groups=$(sed -n 's/.*awq: \([0-9]*\) groups scaled.*/\1/p' "$work/awq.log")
if [ "${groups:-0}" -ge 20 ]; then
  echo "ok: awq searched ${groups} groups: $(grep 'awq:' "$work/awq.log" | head -1 | cut -c1-200)"
else
  echo "FAIL: expected >= 20 AWQ groups (5 layers x 4):"; cat "$work/awq.log"; fail=1
fi
if cmp -s "$work/rtn.gguf" "$work/awq.gguf"; then echo "FAIL: AWQ wrote the round-to-nearest bytes"; fail=1; fi
kl_rtn=$(kl "$work/rtn.gguf")
kl_awq=$(kl "$work/awq.gguf")
if [ -z "$kl_rtn" ] || [ -z "$kl_awq" ]; then
  echo "FAIL: perplexity --kl-base gave no KL (rtn '$kl_rtn', awq '$kl_awq')"; fail=1
elif python3 -c "import sys; sys.exit(0 if $kl_awq <= 1.05 * $kl_rtn else 1)"; then
  echo "ok: Q4_K_M KL from F32: rtn $kl_rtn, awq $kl_awq"
else
  echo "FAIL: awq's KL $kl_awq is above round-to-nearest's $kl_rtn"; fail=1
fi

# 3. SmoothQuant at Q8_0 (ffn_down, rows of 172, fits no block type: F16).
quantize q8 "$model" "$work/q8.gguf" --type Q8_0 --pure --tensor-type ffn_down=F16
quantize q8s "$model" "$work/q8s.gguf" --type Q8_0 --pure --tensor-type ffn_down=F16 "${calib[@]}" --smooth
kl_q8=$(kl "$work/q8.gguf")
kl_q8s=$(kl "$work/q8s.gguf")
if [ -n "$kl_q8" ] && [ -n "$kl_q8s" ] && python3 -c "import sys; sys.exit(0 if $kl_q8s <= 1.5 * $kl_q8 else 1)"; then
  echo "ok: Q8_0 KL from F32: plain $kl_q8, smoothed (alpha 0.5) $kl_q8s"
else
  echo "FAIL: Q8_0 KL plain '$kl_q8', smoothed '$kl_q8s'"; fail=1
fi

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
x="$work/x.gguf"
expect_error "--calib" --method awq "$model" "$x" --type Q4_0
expect_error "GPTQ" --method awq --act-order "${calib[@]}" "$model" "$x" --type Q4_0
expect_error "--imatrix" --method awq "${calib[@]}" --imatrix "$work/none.dat" "$model" "$x" --type Q4_0
expect_error "--awq-alpha" --method awq --awq-alpha 1.5 "${calib[@]}" "$model" "$x" --type Q4_0
expect_error "--awq-alpha" --awq-alpha 0.5 "$model" "$x" --type Q4_0
expect_error "--smooth" "$model" "$x" --type Q8_0 "${calib[@]}" --smooth 0
expect_error "--smooth" "$model" "$x" --type Q8_0 "${calib[@]}" --smooth 1.5
expect_error "--smooth" "$model" "$x" --type Q8_0 --smooth 0.5
expect_error "--smooth" --method awq "$model" "$x" --type Q8_0 "${calib[@]}" --smooth 0.5
expect_error "--smooth" --smooth "$model" "$x" "$work/y.gguf" --type Q8_0 "${calib[@]}"
exit $fail
