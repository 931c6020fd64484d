#!/usr/bin/env bash
# weft info describes every preset and type of synth_gguf.py: every type on the small
# presets, every preset on Q4_0 and the Q4_K_M mix. The parameter count and file size
# must equal what the generator reports.
# usage: info_synth.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
cache="$work/../../synth"   # build/<preset>/synth: generated once, reused
mkdir -p "$work" "$cache"
synth="$shared/tools/synth_gguf.py"

check() {  # preset type
  local preset=$1 type=$2 file="$cache/synth-$1-${2,,}.gguf" meta="$cache/synth-$1-${2,,}.txt"
  if [ ! -s "$meta" ] || [ ! -f "$file" ]; then
    python3 "$synth" --preset "$preset" --type "$type" -o "$file" > "$meta"
  fi
  local want_params want_bytes
  want_params=$(sed -E 's/.*params=([0-9]+).*/\1/' "$meta")
  want_bytes=$(sed -E 's/.*bytes=([0-9]+).*/\1/' "$meta")
  "$weft" info --json "$file" > "$work/info.json"
  python3 - "$work/info.json" "$want_params" "$want_bytes" "$preset" "$type" <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
params, size, preset, typ = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
assert info["n_params"] == params, (preset, typ, info["n_params"], params)
assert info["file_bytes"] == size, (preset, typ, info["file_bytes"], size)
assert info["architecture_supported"], info["architecture"]
assert info["config"] is not None, info.get("config_error")
want_arch = "qwen2" if preset in ("tinyq", "q05b") else "llama"
assert info["config"]["arch"] == want_arch
if typ not in ("Q4_K_M",):
    main = typ if not (typ in ("Q4_K", "Q6_K") and preset in ("tiny", "tinyq")) else "Q8_0"
    assert main in info["tensor_types"], (typ, info["tensor_types"].keys())
PY
  echo "ok: $preset $type ($want_params params)"
}

for preset in tiny tinyk tinyq; do
  for type in F16 BF16 Q8_0 Q4_0 Q4_K Q6_K Q4_K_M; do check "$preset" "$type"; done
done
for preset in s135m q05b l1b; do
  for type in Q4_0 Q4_K_M; do check "$preset" "$type"; done
done
# The text form names the essentials.
"$weft" info "$cache/synth-tinyq-q8_0.gguf" > "$work/info.txt"
for want in "architecture:  qwen2" "tensor types:" "kv cache:" "tokenizer:     gpt2 (byte-level BPE)" "chat template:"; do
  grep -qF "$want" "$work/info.txt" || { echo "missing '$want' in:"; cat "$work/info.txt"; exit 1; }
done
echo "info_synth: all presets and types described"
