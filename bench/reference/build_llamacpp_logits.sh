#!/usr/bin/env bash
# Builds bench/reference/llamacpp_logits.cc against a llama.cpp checkout built with CMake
# (outside this repo; e.g. the ggerganov/llama.cpp snapshot c392e509).
# usage: build_llamacpp_logits.sh LLAMA_CPP_DIR OUT_BINARY
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)/llamacpp_logits.cc
lc=$1 out=$2
g++ -O2 -std=c++17 -I"$lc/include" -I"$lc/ggml/include" "$src" -L"$lc/build/bin" -lllama -lggml -lggml-base \
  -Wl,-rpath,"$lc/build/bin" -o "$out"
