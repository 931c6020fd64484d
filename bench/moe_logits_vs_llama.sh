#!/usr/bin/env bash
# Real-width mixtures of experts against llama.cpp, logits on the same Q4_0 file: weft's
# scalar table (weights dequantised, dots in double) stands in for the float64 reference
# these sizes are too large for in Python; every SIMD ISA must be within the golden bar
# (../shared/golden/README.md) that llama.cpp's own distance from it sets.
# Presets (tests/tools/synth_real_width.py): dsv2q2 (DeepSeek-V2 latent attention at
# V2-Lite's widths with V2's q bottleneck), q2moe2 (Qwen1.5-MoE-A2.7B's widths), mixs2
# (Mixtral-shaped, width 1024).
# usage: bench/moe_logits_vs_llama.sh WEFT LLAMACPP_LOGITS WORK_DIR
#   LLAMACPP_LOGITS: bench/reference/build_llamacpp_logits.sh's tool (built outside the repo)
set -euo pipefail
weft=$1 lc=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
tools="$here/../tests/tools"
mkdir -p "$work"
python3 -c "import random; r = random.Random(3); print(' '.join(str(r.randrange(300, 31000)) for _ in range(48)))" \
  > "$work/ids.txt"
failed=0
for preset in dsv2q2 q2moe2 mixs2; do
  model="$work/$preset-q4_0.gguf"
  [ -f "$model" ] || python3 "$tools/synth_real_width.py" --preset "$preset" --type Q4_0 -o "$model" > /dev/null
  "$lc" "$model" "$work/ids.txt" "$work/$preset.llamacpp.logits" 2> "$work/$preset.llamacpp.err"
  for isa in scalar avx2 avx512; do
    WEFT_ISA=$isa "$weft" logits "$model" --tokens "$work/ids.txt" --out "$work/$preset.$isa.logits" -t 2 \
      2> "$work/$preset.$isa.err" || { grep -q "does not support it" "$work/$preset.$isa.err" && continue; exit 1; }
  done
  python3 "$tools/compare_logits.py" "$work/$preset.llamacpp.logits" "$work/$preset.scalar.logits" \
    --max-abs 1 --rms 1 --label "$preset: weft scalar vs llama.cpp"
  for isa in avx2 avx512; do
    [ -f "$work/$preset.$isa.logits" ] || continue
    python3 "$tools/compare_logits.py" "$work/$preset.scalar.logits" "$work/$preset.$isa.logits" \
      --bar-from "$work/$preset.llamacpp.logits" --label "$preset: weft $isa vs scalar, llama.cpp's bar" || failed=1
  done
done
exit $failed
