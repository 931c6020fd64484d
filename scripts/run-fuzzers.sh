#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a bounded time,
# seeded with the model files and templates in ../shared. Fails on any crash.
#   scripts/run-fuzzers.sh [SECONDS_PER_TARGET]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-${WEFT_FUZZ_SECONDS:-30}}"
shared="$(cd .. && pwd)/shared"

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target weft_fuzzers

work=build/fuzz/work
mkdir -p "$work"
status=0
for bin in build/fuzz/fuzz/*_fuzz; do
  name=$(basename "$bin" _fuzz)
  corpus="$work/$name-corpus"
  mkdir -p "$corpus"
  seeds=()
  case "$name" in
    gguf) seeds=("$shared/models/stories260K" "$shared/models/llama-2-tiny-random" "$shared/models/tinyllama-v0") ;;
    safetensors) seeds=("$shared/models/stories260K/hf") ;;
    chat_template) seeds=("$shared/models/chat-templates") ;;
    tokenizer*) seeds=("$shared/golden/tokenizer") ;;
  esac
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" "$corpus" "${seeds[@]}" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
        -timeout=10 -print_final_stats=1 -artifact_prefix="$work/$name-" >"$work/$name.log" 2>&1; then
    echo "fuzz: $name FAILED; see $work/$name.log"; tail -40 "$work/$name.log"; status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$work/$name.log" | tail -2 || true
  fi
done
exit $status
