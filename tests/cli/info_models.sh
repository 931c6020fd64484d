#!/usr/bin/env bash
# weft info on every model in ../shared/models (and the HF and llama2.c layouts), and
# one clear error line with a non-zero exit for bad inputs.
# usage: info_models.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
m="$shared/models"
fail() { echo "FAIL: $*"; exit 1; }

n=0
while IFS= read -r f; do
  "$weft" info "$f" > "$work/out.txt" 2> "$work/err.txt" || { cat "$work/err.txt"; fail "weft info $f"; }
  grep -q "^architecture:" "$work/out.txt" || fail "no architecture line for $f"
  n=$((n + 1))
done < <(find "$m" -name '*.gguf' | sort)
[ "$n" -ge 10 ] || fail "expected at least 10 GGUF files, found $n"

"$weft" info "$m/stories260K/hf" > "$work/hf.txt"
grep -q "safetensors" "$work/hf.txt" || fail "HF layout not described as safetensors"
"$weft" info "$m/stories260K/llama2c/stories260K.bin" > "$work/l2c.txt"
grep -q "llama2.c" "$work/l2c.txt" || fail "llama2.c not described"

# The three formats of stories260K agree on parameters (exact counts from --json). The
# GGUF alone carries a separate output.weight (512 x 64, a copy of the embedding) where
# the HF and llama2.c files tie it, so it has exactly 32768 more.
p_gguf=$("$weft" info --json "$m/stories260K/stories260K.gguf" | python3 -c 'import json,sys; print(json.load(sys.stdin)["n_params"])')
p_hf=$("$weft" info --json "$m/stories260K/hf" | python3 -c 'import json,sys; print(json.load(sys.stdin)["n_params"])')
p_l2c=$("$weft" info --json "$m/stories260K/llama2c/stories260K.bin" | python3 -c 'import json,sys; print(json.load(sys.stdin)["n_params"])')
[ "$p_gguf" = "$((p_hf + 32768))" ] && [ "$p_hf" = "$p_l2c" ] || fail "parameter counts differ: gguf=$p_gguf hf=$p_hf llama2c=$p_l2c"

"$weft" info "$m/stories260K/tinyllamas-stories-260k-q8_0.gguf" > "$work/q8.txt"
grep -q "blocks run across" "$work/q8.txt" || fail "Q8_0 quirk not reported"
"$weft" info "$m/tinyllama-v0/TinyLLama-v0.Q4_0.gguf" > "$work/tl.txt"
grep -q "Q4_0" "$work/tl.txt" || fail "TinyLLama Q4_0 types missing"
grep -q "none (give one with --chat-template FILE)" "$work/tl.txt" || fail "chat template line"
"$weft" info "$m/vocab/ggml-vocab-phi-3.gguf" > "$work/phi3.txt"
grep -q "chat template: present" "$work/phi3.txt" || fail "phi-3 chat template not seen"

# Bad inputs: exactly one line on stderr, non-zero exit, naming the problem.
bad() {  # file expected-substring
  if "$weft" info "$1" > /dev/null 2> "$work/err.txt"; then fail "weft info $1 succeeded"; fi
  [ "$(wc -l < "$work/err.txt")" -eq 1 ] || { cat "$work/err.txt"; fail "not one line for $1"; }
  grep -qF "$2" "$work/err.txt" || { cat "$work/err.txt"; fail "error for $1 lacks '$2'"; }
}
head -c 1000 "$m/stories260K/stories260K.gguf" > "$work/truncated.gguf"
bad "$work/truncated.gguf" "truncated"
printf 'GGML0000000000000' > "$work/ggml.bin"
bad "$work/ggml.bin" "legacy GGML"
printf 'hello world, not a model' > "$work/text.gguf"
bad "$work/text.gguf" "not a model file"
bad "$work/does-not-exist.gguf" "no such file"
{ printf 'GGUF'; printf '\x01\x00\x00\x00'; head -c 64 /dev/zero; } > "$work/v1.gguf"
bad "$work/v1.gguf" "version 1 is not supported"
echo "info_models: $n GGUF files + HF + llama2.c described; bad inputs rejected"
