#!/usr/bin/env bash
# The openai-client suite: installs the locked npm dependencies, then runs node's test
# runner; the tests start `weft serve` themselves on loopback.
# usage: run.sh WEFT SHARED_DIR
set -euo pipefail
cd "$(dirname "$0")"
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FAIL: $tool is not installed; scripts/install-deps.sh installs it (Debian packages nodejs, npm)" >&2
    exit 1
  fi
done
npm ci --no-audit --no-fund --loglevel=error
WEFT_BINARY=$1 WEFT_SHARED_DIR=$2 exec node --test openai.test.mjs fields.test.mjs tinyllama.test.mjs
