#!/usr/bin/env bash
# Regenerates docs/CLI.md from the binary's --help texts (run after `make build`;
# WEFT=path/to/weft uses another build; the page names it build/release/bin/weft).
set -euo pipefail
cd "$(dirname "$0")/.."
weft=${WEFT:-build/release/bin/weft}
help() { "$weft" "$@" --help | sed -e "s|$PWD/||g" -e "s|$weft|build/release/bin/weft|g"; }
{
  echo "# weft command-line reference"; echo
  echo "Generated from \`weft COMMAND --help\` (regenerate with \`scripts/gen-cli-doc.sh\`)."; echo
  echo '```'; help; echo '```'
  for c in info tokenize template run chat serve bench "bench serve" perplexity logits; do
    # shellcheck disable=SC2086  # "bench serve" is two words
    echo; echo "## weft $c"; echo; echo '```'; help $c; echo '```'
  done
} > docs/CLI.md
