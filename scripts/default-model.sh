#!/usr/bin/env bash
# Prints the model `make run` and `make chat` use: a small instruct model from the
# Hugging Face hub when the hub answers (downloaded once into ~/.cache/weft by weft's
# hf: support), else the best local model (TinyLLama-v0 from ../shared/models).
# WEFT_DEFAULT_MODEL overrides both.
set -u
if [ -n "${WEFT_DEFAULT_MODEL:-}" ]; then echo "$WEFT_DEFAULT_MODEL"; exit 0; fi
hub="${HF_ENDPOINT:-https://huggingface.co}"
if curl -s -o /dev/null --max-time 3 -I "$hub" 2>/dev/null; then
  echo "hf:bartowski/SmolLM2-135M-Instruct-GGUF:SmolLM2-135M-Instruct-Q8_0.gguf"
else
  echo "tinyllama-v0"
fi
