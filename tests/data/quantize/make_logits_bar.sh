#!/usr/bin/env bash
# Regenerates logits_bar.txt: for each line of logits_cases.txt (model, type), the file
# weft quantize writes (byte-identical to llama-quantize's: expected.txt) is evaluated
# by llama.cpp (/work/ref/llamacpp_logits, bench/reference/build_llamacpp_logits.sh) and
# compared with the exact answer for that file: the float64 pass of
# tests/tools/ref_forward.py over the file dequantised to F32 (weft quantize --type F32
# --allow-requantize). llama.cpp's distance, times 1.5, plus 1e-4 (rms) / 1e-3 (max),
# is the golden bar (../shared/golden/README.md) that tests/cli/quantize_logits.sh holds
# weft to.
# usage: make_logits_bar.sh WEFT LLAMACPP_LOGITS SHARED_DIR WORK_DIR [CASES] > logits_bar.txt
# (CASES: another list in logits_cases.txt's format, to add lines for new cases only)
set -euo pipefail
weft=$1 llamacpp=$2 shared=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
tools="$here/../../tools"
mkdir -p "$work"
python3 -c "import random; r = random.Random(11); print(' '.join(str(r.randrange(500)) for _ in range(24)))" > "$work/ids.txt"
grep -v '^#' "${5:-$here/logits_cases.txt}" | while read -r model type; do
  [ -n "$model" ] || continue
  case $model in
    stories) in="$shared/models/stories260K/stories260K.gguf" ;;
    *) in="$work/$model-f16.gguf"
       [ -f "$in" ] || python3 "$shared/tools/synth_gguf.py" --preset "$model" --type F16 -o "$in" >/dev/null ;;
  esac
  q="$work/$model-$type.gguf"
  "$weft" quantize "$in" "$q" --type "$type" >/dev/null 2>&1
  "$weft" quantize --allow-requantize "$q" "$work/deq.gguf" --type F32 >/dev/null 2>&1
  python3 "$tools/ref_forward.py" "$work/deq.gguf" --tokens "$work/ids.txt" --out "$work/ref.logits"
  "$llamacpp" "$q" "$work/ids.txt" "$work/llamacpp.logits" >/dev/null 2>&1
  python3 - "$work/ref.logits" "$work/llamacpp.logits" "$model" "$type" <<'PY'
import math, struct, sys
def read(p):
    b = open(p, "rb").read()
    _, _, nv, nt, nk = struct.unpack_from("<5I", b, 0)
    o = 20 + 4 * nt + 4 * nk
    return struct.unpack_from(f"<{nk * nv}f", b, o)
a, b = read(sys.argv[1]), read(sys.argv[2])
d = [x - y for x, y in zip(a, b)]
rms = math.sqrt(sum(x * x for x in d) / len(d))
mx = max(abs(x) for x in d)
print(f"{sys.argv[3]} {sys.argv[4]} {1.5 * rms + 1e-4:.6g} {1.5 * mx + 1e-3:.6g}  # llama.cpp rms {rms:.4g} max {mx:.4g}")
PY
done
