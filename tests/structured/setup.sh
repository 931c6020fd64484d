#!/usr/bin/env bash
# Installs the locked ajv packages (package-lock.json) into tests/structured/node_modules
# for the structured-output tests. Without node/npm it fails and says so.
set -euo pipefail
cd "$(dirname "$0")"
source ../tools/require_node.sh
# npm ci deletes and reinstalls node_modules: skip it when the installed tree matches the lock.
if [ -f node_modules/.weft-lock-stamp ] && cmp -s node_modules/.weft-lock-stamp package-lock.json; then
  echo "structured: node_modules up to date"
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json node_modules/.weft-lock-stamp
