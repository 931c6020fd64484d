#!/usr/bin/env bash
# weft tokenize and weft template end to end.
# usage: tokenize_template.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }

# The golden prompt tokens (with BOS) of every real model.
python3 - "$shared/golden/real/index.json" > "$work/cases.txt" <<'PY'
import json, sys
for key, e in json.load(open(sys.argv[1])).items():
    for c in e["cases"]:
        print(e["model_file"] + "\t" + c["prompt"] + "\t" + " ".join(map(str, c["prompt_tokens"])))
PY
while IFS=$'\t' read -r file prompt want; do
  path=$(find "$shared/models" -name "$file" | head -1)
  got=$("$weft" tokenize "$path" "$prompt" --ids)
  [ "$got" = "$want" ] || fail "$file '$prompt': got '$got' want '$want'"
done < "$work/cases.txt"
[ "$("$weft" tokenize stories260K/stories260K.gguf "Once upon a time" --ids --no-special)" = "403 407 261 378" ] \
  || fail "--no-special"
"$weft" tokenize stories260K/stories260K.gguf "Once upon" | grep -qP "^403\t' Once'$" || fail "id/piece lines"

# Templates: the model's own (phi-3 vocab), a file, and clear errors.
cat > "$work/m.json" <<'J'
[{"role": "system", "content": "You are kind."}, {"role": "user", "content": "Hi there"}]
J
printf '<s><|user|>\nHi there<|end|>\n<|assistant|>\n' > "$work/want-phi3.txt"
"$weft" template "$shared/models/vocab/ggml-vocab-phi-3.gguf" --messages "$work/m.json" > "$work/phi3.txt"
cmp -s "$work/phi3.txt" "$work/want-phi3.txt" || { cat -A "$work/phi3.txt"; fail "phi-3 render"; }
"$weft" template tinyllama-v0 --messages "$work/m.json" \
  --chat-template "$shared/models/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja" > "$work/qwen.txt"
printf '<|im_start|>system\nYou are kind.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n' > "$work/want-qwen.txt"
cmp -s "$work/qwen.txt" "$work/want-qwen.txt" || { cat -A "$work/qwen.txt"; fail "qwen render"; }
# --ids: the prompt as serve and chat build it: BOS once, whether the template writes it
# (phi-3 writes <s>) or not (Qwen's, on a vocabulary that wants BOS).
ids=$("$weft" template "$shared/models/vocab/ggml-vocab-phi-3.gguf" --messages "$work/m.json" --ids)
[ "${ids%% *}" = 1 ] || fail "phi-3 --ids: no BOS first: $ids"
case "$ids" in "1 1 "*) fail "phi-3 --ids: BOS twice: $ids";; esac
ids=$("$weft" template tinyllama-v0 --messages "$work/m.json" --ids \
  --chat-template "$shared/models/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja")
[ "${ids%% *}" = 1 ] || fail "qwen --ids: no BOS first: $ids"
case "$ids" in "1 1 "*) fail "qwen --ids: BOS twice: $ids";; esac
cat > "$work/c.json" <<'J'
[{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello"}]
J
"$weft" template tinyllama-v0 --messages "$work/c.json" --continue-final-message \
  --chat-template "$shared/models/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja" > "$work/cont.txt"
[ "$(tail -c 15 "$work/cont.txt")" = $'assistant\nHello' ] || { cat -A "$work/cont.txt"; fail "--continue-final-message"; }
if "$weft" template tinyllama-v0 --messages "$work/m.json" 2> "$work/err.txt"; then fail "no template accepted"; fi
grep -q "has no chat template; give one with --chat-template" "$work/err.txt" || fail "no-template message"
echo '{"messages": 3}' > "$work/bad.json"
if "$weft" template tinyllama-v0 --messages "$work/bad.json" --chat-template \
    "$shared/models/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja" 2> "$work/err.txt"; then fail "bad messages accepted"; fi
grep -q "must be an array" "$work/err.txt" || fail "bad messages message: $(cat "$work/err.txt")"
printf '{%% if %%}' > "$work/broken.jinja"
if "$weft" template tinyllama-v0 --messages "$work/m.json" --chat-template "$work/broken.jinja" 2> "$work/err.txt"; then
  fail "broken template accepted"; fi
grep -q "broken.jinja" "$work/err.txt" || fail "broken template message: $(cat "$work/err.txt")"
echo "tokenize_template: golden prompt ids and chat renders reproduced"
