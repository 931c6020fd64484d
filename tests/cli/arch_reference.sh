#!/usr/bin/env bash
# Every architecture weft registers (weft info --architectures) against an independent
# float64 forward pass in plain Python (tests/tools/ref_forward.py), on tiny synthetic
# F32 models of that architecture and its variants (tests/tools/synth_arch.py presets:
# e.g. mistral = llama with a sliding window shorter than the input), from GGUF and from
# an HF directory (tests/tools/gguf_to_hf.py): `weft logits` on every ISA
# this CPU runs, whole sequence at once, must stay within max|diff| 1e-3 and rms 1e-4 of
# the reference at every one of 24 positions (the golden bar for F32 models,
# ../shared/golden/README.md). An architecture without a preset fails the test.
# DeepSeek's latent attention caches the latent where the reference (as llama.cpp) caches
# per-head keys and values, so the two round to F16 in different places: for those
# presets the bar is the F16 cache's own effect on the reference (its distance from the
# same pass with an F32 cache), by the golden rule: 1.5x that, + 1e-4 rms / 1e-3 max; and
# with F32 caches on both sides (--kv-type f32, --kv f32) the tight bar above.
# usage: arch_reference.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 work=$3
tools=$(cd "$(dirname "$0")/../tools" && pwd)
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }

archs=$("$weft" info --architectures | awk '{print $1}')
presets=$(python3 "$tools/synth_arch.py" --list)  # "preset arch" lines
[ -n "$archs" ] || fail "weft info --architectures listed nothing"
for arch in $archs; do
  awk '{print $2}' <<< "$presets" | grep -qx "$arch" ||
    fail "architecture $arch has no preset in tests/tools/synth_arch.py (add one, and its pass in ref_forward.py)"
done
python3 -c "import random; r = random.Random(7); print(' '.join(str(r.randrange(300)) for _ in range(24)))" > "$work/ids.txt"

failed=0
for arch in $(awk '{print $1}' <<< "$presets"); do  # preset names
  model="$work/$arch.gguf"
  python3 "$tools/synth_arch.py" --preset "$arch" -o "$model"
  python3 "$tools/ref_forward.py" "$model" --tokens "$work/ids.txt" --out "$work/$arch.ref.logits"
  bounds=(--max-abs 1e-3 --rms 1e-4)
  if [ "$(awk -v p="$arch" '$1 == p {print $2}' <<< "$presets")" = deepseek2 ]; then
    python3 "$tools/ref_forward.py" "$model" --tokens "$work/ids.txt" --kv f32 --out "$work/$arch.ref32.logits"
    bounds=(--bar-from "$work/$arch.ref32.logits")
  fi
  for isa in scalar avx2 avx512; do
    if ! WEFT_ISA=$isa "$weft" logits "$model" --tokens "$work/ids.txt" --out "$work/$arch.$isa.logits" -t 2 \
        2> "$work/$arch.$isa.err"; then
      if grep -q "this CPU does not support it" "$work/$arch.$isa.err"; then
        echo "note: $isa: not on this CPU"
        continue
      fi
      cat "$work/$arch.$isa.err"
      fail "$arch on $isa: weft logits failed"
    fi
    python3 "$tools/compare_logits.py" "$work/$arch.ref.logits" "$work/$arch.$isa.logits" \
      "${bounds[@]}" --label "$arch/$isa" || failed=1
    if [ -f "$work/$arch.ref32.logits" ]; then  # with F32 caches on both sides: the tight bar
      WEFT_ISA=$isa "$weft" logits "$model" --tokens "$work/ids.txt" --kv-type f32 --out "$work/$arch.$isa.f32.logits" \
        -t 2 2> "$work/$arch.$isa.f32.err" || { cat "$work/$arch.$isa.f32.err"; fail "$arch on $isa, --kv-type f32"; }
      python3 "$tools/compare_logits.py" "$work/$arch.ref32.logits" "$work/$arch.$isa.f32.logits" \
        --max-abs 1e-3 --rms 1e-4 --label "$arch/$isa/f32-cache" || failed=1
    fi
  done
  # The same model as a Hugging Face directory (tests/tools/gguf_to_hf.py: HF names, HF's
  # rotate-half q/k rows for llama, Gemma's w - 1 norms) must give the same logits.
  python3 "$tools/gguf_to_hf.py" "$model" "$work/hf-$arch"
  "$weft" logits "$work/hf-$arch" --tokens "$work/ids.txt" --out "$work/$arch.hf.logits" -t 2 2> "$work/$arch.hf.err" ||
    { cat "$work/$arch.hf.err"; fail "$arch from an HF directory: weft logits failed"; }
  python3 "$tools/compare_logits.py" "$work/$arch.ref.logits" "$work/$arch.hf.logits" \
    "${bounds[@]}" --label "$arch/hf-directory" || failed=1
done
# A second reference: llama.cpp's logits on the same synthetic models, with a vocabulary
# (tests/data/llamacpp/README.md): weft within the golden bar that llama.cpp's own distance
# from the float64 pass sets.
data=$(cd "$(dirname "$0")/../data/llamacpp" && pwd)
vocab="$2/models/stories260K/stories260K.gguf"
while read -r preset layers; do
  [[ -z "$preset" || "$preset" == \#* ]] && continue
  model="$work/lc-$preset.gguf"
  python3 "$tools/synth_arch.py" --preset "$preset" --layers "$layers" --vocab "$vocab" -o "$model"
  python3 "$tools/ref_forward.py" "$model" --tokens "$data/ids.txt" --out "$work/lc-$preset.ref.logits"
  for isa in scalar avx2 avx512; do
    WEFT_ISA=$isa "$weft" logits "$model" --tokens "$data/ids.txt" --out "$work/lc-$preset.$isa.logits" -t 2 \
      2> "$work/lc-$preset.$isa.err" || { grep -q "does not support it" "$work/lc-$preset.$isa.err" && continue;
                                         cat "$work/lc-$preset.$isa.err"; fail "$preset on $isa"; }
    python3 "$tools/compare_logits.py" "$work/lc-$preset.ref.logits" "$work/lc-$preset.$isa.logits" \
      --bar-from "$data/$preset.llamacpp.logits" --label "$preset/$isa vs llama.cpp's bar" || failed=1
  done
done < "$data/MANIFEST"
[ "$failed" = 0 ] || fail "an architecture is outside the bar"
echo "arch_reference: all architectures within the bar"
