#!/usr/bin/env bash
# Regenerates docs/CLI.md from the binary's --help texts (run after `make build`).
set -euo pipefail
cd "$(dirname "$0")/.."
weft=build/release/bin/weft
{
  echo "# weft command-line reference"; echo
  echo "Generated from \`weft COMMAND --help\` (regenerate with \`scripts/gen-cli-doc.sh\`)."; echo
  echo '```'; "$weft" --help; echo '```'
  for c in info tokenize template run chat serve bench perplexity logits; do
    echo; echo "## weft $c"; echo; echo '```'; "$weft" "$c" --help | sed "s|$PWD/||g"; echo '```'
  done
} > docs/CLI.md
