#!/usr/bin/env bash
# weft quantize reads a Hugging Face model: ../shared/models/stories260K/hf (config.json,
# tokenizer.json, tokenizer_config.json, model.safetensors) was derived from
# stories260K.gguf, so converting it must give back the GGUF's tensors:
#  1. --type F32 and --pure --type Q8_0 (ffn_down's rows of 172 fit no Q8_0 block: kept
#     in F32 by --tensor-type, on both sides): every tensor has the same type and bytes as the
#     same run on stories260K.gguf (q/k rows permuted back from HF's rotate-half order),
#     except output.weight, which the HF copy ties to token_embd (the GGUF stores a copy);
#  2. the converted files run in weft: the same tokens for a text (the tokenizer came
#     from tokenizer.json), the same greedy story, and logits equal to the GGUF's;
#  3. a directory that is not a model, one without tokenizer.json, and a .safetensors
#     file without config.json get errors that name what is missing;
#  4. a byte-level BPE model: a tiny llama with random weights around the real SmolLM2
#     tokenizer (tests/tools/write_tiny_hf_llama.py) becomes a GGUF "gpt2" vocabulary with
#     pre-tokenizer smollm: the same tokens as the HF directory on a sample of texts, and
#     F32 logits bit-identical to running the directory itself (Q/K rows permuted back);
#     and the same for a Qwen2 model (q/k/v biases, rotate-half RoPE kept as stored) and a
#     llama with Llama 3.1's rope scaling (its divisors written as rope_freqs.weight).
# usage: quantize_hf.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
tools="$here/../tools"
mkdir -p "$work"
gguf="$shared/models/stories260K/stories260K.gguf"
hf="$shared/models/stories260K/hf"
fail=0

hashes() { python3 "$tools/gguf_tensor_hashes.py" "$1" | grep -v '^output\.weight '; }
for type in F32 Q8_0; do
  args=(-t 2 --type "$type")
  [ "$type" = F32 ] || args+=(--pure --tensor-type ffn_down=f32)
  "$weft" quantize "${args[@]}" "$gguf" "$work/from-gguf-$type.gguf" > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
  "$weft" quantize "${args[@]}" "$hf" "$work/from-hf-$type.gguf" > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
  if diff <(hashes "$work/from-gguf-$type.gguf") <(hashes "$work/from-hf-$type.gguf") > "$work/diff"; then
    echo "ok: HF -> $type: $(hashes "$work/from-hf-$type.gguf" | wc -l) tensors as from the GGUF"
  else
    echo "FAIL: HF -> $type differs from GGUF -> $type:"; head -20 "$work/diff"; fail=1
  fi
  if python3 "$tools/gguf_tensor_hashes.py" "$work/from-hf-$type.gguf" | grep -q '^output\.weight '; then
    echo "FAIL: HF -> $type has an output.weight (the HF model ties it)"; fail=1
  fi
done

# 2. Tokenizer, story and logits.
text="Once upon a time, there was a little girl named Lily. She liked to play outside."
for m in "$gguf" "$work/from-hf-F32.gguf" "$work/from-hf-Q8_0.gguf"; do
  "$weft" tokenize "$m" "$text" --ids > "$work/ids.$(basename "$m")"
done
cmp -s "$work/ids.stories260K.gguf" "$work/ids.from-hf-F32.gguf" ||
  { echo "FAIL: tokens differ: $(cat "$work/ids.stories260K.gguf") vs $(cat "$work/ids.from-hf-F32.gguf")"; fail=1; }
story() { "$weft" run "$1" -p 'Once upon a time' -n 60 --temp 0 -q -t 2 2> /dev/null; }
want=$(story "$gguf")
got=$(story "$work/from-hf-F32.gguf")
[ -n "$want" ] && [ "$want" = "$got" ] || { echo "FAIL: greedy story: GGUF '$want' vs HF F32 '$got'"; fail=1; }
[ "$(story "$work/from-gguf-Q8_0.gguf")" = "$(story "$work/from-hf-Q8_0.gguf")" ] ||
  { echo "FAIL: greedy story differs between the two Q8_0 files"; fail=1; }
echo "ok: tokens and greedy story: ${got:0:60}..."
python3 -c "import random; r = random.Random(5); print(' '.join(str(r.randrange(512)) for _ in range(24)))" > "$work/lid.txt"
for m in from-gguf-Q8_0 from-hf-Q8_0; do
  "$weft" logits "$work/$m.gguf" --tokens "$work/lid.txt" --out "$work/$m.logits" -t 2 2> "$work/log" ||
    { cat "$work/log"; exit 1; }
done
python3 "$tools/compare_logits.py" "$work/from-gguf-Q8_0.logits" "$work/from-hf-Q8_0.logits" --rms 0 --max-abs 0 \
  --label "HF Q8_0 vs GGUF Q8_0" || fail=1

# 3. Bad input.
expect_error() {  # pattern, args...
  local pattern=$1; shift
  if "$weft" quantize "$@" > "$work/err" 2>&1; then echo "FAIL: weft quantize $* succeeded"; fail=1; return; fi
  grep -q -- "$pattern" "$work/err" || { echo "FAIL: weft quantize $*: no '$pattern' in:"; cat "$work/err"; fail=1; }
}
rm -rf "$work/bad" && mkdir -p "$work/bad/empty" "$work/bad/notok" "$work/bad/lone"
cp "$hf/config.json" "$hf/model.safetensors" "$work/bad/notok/"
cp "$hf/model.safetensors" "$work/bad/lone/"
expect_error "model.safetensors" "$work/bad/empty" "$work/x.gguf" --type Q8_0
expect_error "tokenizer.json" "$work/bad/notok" "$work/x.gguf" --type F32
expect_error "config.json" "$work/bad/lone/model.safetensors" "$work/x.gguf" --type F32
[ ! -e "$work/x.gguf" ] || { echo "FAIL: a refused run left a file"; fail=1; }
echo "ok: bad directories refused"

# 4. Byte-level BPE (SmolLM2's tokenizer).
tiny="$work/tiny-smollm"
python3 "$tools/write_tiny_hf_llama.py" "$shared/models/tokenizers/smollm2-135m-instruct" "$tiny"
"$weft" quantize -t 2 --type F32 "$tiny" "$work/tiny-f32.gguf" > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
"$weft" info "$work/tiny-f32.gguf" > "$work/info" 2>&1
grep -q "tokenizer: *gpt2 (byte-level BPE), pre-tokenizer smollm, 49152 tokens" "$work/info" ||
  { echo "FAIL: the byte-level vocabulary was not carried over:"; grep tokenizer "$work/info"; fail=1; }
# (Non-ASCII digits are left out: GGUF's smollm splits every \p{N} alone, where weft reads
# the HF Digits pre-tokenizer as [0-9]; llama.cpp's conversion has the same difference.)
while IFS= read -r line; do
  a=$("$weft" tokenize "$tiny" "$line" --ids) b=$("$weft" tokenize "$work/tiny-f32.gguf" "$line" --ids)
  [ "$a" = "$b" ] || { echo "FAIL: tokens of '$line': HF $a, GGUF $b"; fail=1; }
done <<'TEXTS'
Hello world, 12345 tokens!
Line one    indented	code() { return x; }	A
Ünïcödé — 日本語 😀 and emoji 🎉🎉
trailing spaces   
it's   don't  WE'LL they've
TEXTS
python3 -c "import random; r = random.Random(7); print(' '.join(str(r.randrange(49152)) for _ in range(24)))" > "$work/bid.txt"
"$weft" logits "$tiny" --tokens "$work/bid.txt" --out "$work/tiny-hf.logits" -t 2 2> "$work/log" || { cat "$work/log"; exit 1; }
"$weft" logits "$work/tiny-f32.gguf" --tokens "$work/bid.txt" --out "$work/tiny-gguf.logits" -t 2 2> "$work/log" ||
  { cat "$work/log"; exit 1; }
cmp -s "$work/tiny-hf.logits" "$work/tiny-gguf.logits" || { echo "FAIL: byte-level model: logits differ"; fail=1; }
echo "ok: byte-level BPE model (SmolLM2 tokenizer): tokens and logits as from the HF directory"
python3 "$tools/write_tiny_hf_llama.py" "$shared/models/tokenizers/smollm2-135m-instruct" "$tiny-qwen2" --qwen2
"$weft" quantize -t 2 --type F32 "$tiny-qwen2" "$work/tiny-qwen2.gguf" > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
"$weft" info "$work/tiny-qwen2.gguf" 2>&1 | grep -q "architecture: *qwen2" || { echo "FAIL: the Qwen2 model is not qwen2"; fail=1; }
"$weft" logits "$tiny-qwen2" --tokens "$work/bid.txt" --out "$work/q-hf.logits" -t 2 2> "$work/log" || { cat "$work/log"; exit 1; }
"$weft" logits "$work/tiny-qwen2.gguf" --tokens "$work/bid.txt" --out "$work/q-gguf.logits" -t 2 2> "$work/log" ||
  { cat "$work/log"; exit 1; }
cmp -s "$work/q-hf.logits" "$work/q-gguf.logits" || { echo "FAIL: Qwen2 model: logits differ"; fail=1; }
echo "ok: Qwen2 model (q/k/v biases): logits as from the HF directory"
python3 "$tools/write_tiny_hf_llama.py" "$shared/models/tokenizers/smollm2-135m-instruct" "$tiny-l3" --llama3-rope --untied
"$weft" quantize -t 2 --type F32 "$tiny-l3" "$work/tiny-l3.gguf" > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
python3 "$tools/gguf_tensor_hashes.py" "$work/tiny-l3.gguf" > "$work/l3.hashes"
grep -q '^rope_freqs\.weight ' "$work/l3.hashes" ||
  { echo "FAIL: llama3 rope scaling: no rope_freqs.weight"; fail=1; }
"$weft" logits "$tiny-l3" --tokens "$work/bid.txt" --out "$work/l3-hf.logits" -t 2 2> "$work/log" || { cat "$work/log"; exit 1; }
"$weft" logits "$work/tiny-l3.gguf" --tokens "$work/bid.txt" --out "$work/l3-gguf.logits" -t 2 2> "$work/log" ||
  { cat "$work/log"; exit 1; }
cmp -s "$work/l3-hf.logits" "$work/l3-gguf.logits" || { echo "FAIL: llama3 rope scaling: logits differ"; fail=1; }
echo "ok: Llama 3.1 rope scaling (untied head): rope_freqs.weight written, logits as from the HF directory"
rm -rf "$tiny" "$tiny-qwen2" "$tiny-l3"
rm -rf "$work/bad" "$work"/*.gguf
exit $fail
