#!/usr/bin/env bash
# Files weft quantize writes load in weft and give logits within the golden bar
# (../shared/golden/README.md) of llama.cpp's run of the same file: for each line of
# tests/data/quantize/logits_bar.txt (model, type, rms bar, max bar = 1.5 x llama.cpp's
# distance + 1e-4 / 1e-3, made by make_logits_bar.sh there), the file is quantised, the
# exact answer for it is computed (the file dequantised to F32 by weft quantize --type
# F32 --allow-requantize, then tests/tools/ref_forward.py's float64 pass), and
# weft logits on the quantised file must be within the bar of it at all 24 positions.
# usage: quantize_logits.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../data/quantize"
tools="$here/../tools"
cache="$work/../../synth"
mkdir -p "$work" "$cache"
python3 -c "import random; r = random.Random(11); print(' '.join(str(r.randrange(500)) for _ in range(24)))" > "$work/ids.txt"
fail=0
while read -r model type rms_bar max_bar _; do
  case $model in ''|'#'*) continue ;; esac
  case $model in
    stories) in="$shared/models/stories260K/stories260K.gguf" ;;
    *) in="$cache/quant-$model-f16.gguf"
       [ -f "$in" ] || python3 "$shared/tools/synth_gguf.py" --preset "$model" --type F16 -o "$in" >/dev/null ;;
  esac
  q="$work/$model-$type.gguf"
  "$weft" quantize -t 2 "$in" "$q" --type "$type" > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
  "$weft" quantize -t 2 --allow-requantize "$q" "$work/deq.gguf" --type F32 > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
  python3 "$tools/ref_forward.py" "$work/deq.gguf" --tokens "$work/ids.txt" --out "$work/ref.logits"
  "$weft" logits "$q" --tokens "$work/ids.txt" --out "$work/weft.logits" -t 2 2> "$work/log" || { cat "$work/log"; exit 1; }
  python3 "$tools/compare_logits.py" "$work/ref.logits" "$work/weft.logits" --rms "$rms_bar" --max-abs "$max_bar" \
    --label "$model $type" || fail=1
  rm -f "$q" "$work/deq.gguf"
done < "$data/logits_bar.txt"
exit $fail
