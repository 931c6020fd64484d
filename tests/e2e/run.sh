#!/usr/bin/env bash
# The openai-client suite: installs the locked npm dependencies, then runs node's test
# runner; the tests start `weft serve` themselves on loopback.
# usage: run.sh WEFT SHARED_DIR
set -euo pipefail
cd "$(dirname "$0")"
source ../tools/require_node.sh
npm ci --no-audit --no-fund --loglevel=error
WEFT_BINARY=$1 WEFT_SHARED_DIR=$2 exec node --test openai.test.mjs fields.test.mjs tinyllama.test.mjs tools.test.mjs
