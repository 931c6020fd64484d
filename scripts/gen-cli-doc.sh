#!/usr/bin/env bash
# Regenerates docs/CLI.md from the binary's --help texts (run after `make build`;
# WEFT=path/to/weft uses another build; the page names it build/release/bin/weft).
# With --check it changes nothing and fails when docs/CLI.md differs from what the
# binary says (tests/cli/cli_doc.sh runs it, so the page cannot drift from --help).
set -euo pipefail
cd "$(dirname "$0")/.."
weft=${WEFT:-build/release/bin/weft}
help() { "$weft" "$@" --help | sed -e "s|$PWD/||g" -e "s|$weft|build/release/bin/weft|g" -e "s|build/[A-Za-z0-9_-]*/bin/weft|build/release/bin/weft|g"; }
page() {
  echo "# weft command-line reference"; echo
  echo "Generated from \`weft COMMAND --help\` (regenerate with \`scripts/gen-cli-doc.sh\`; \`cli.cli_doc\` checks it)."; echo
  echo '```'; help; echo '```'
  for c in info tokenize template run chat serve bench "bench serve" perplexity logits quantize spec-calibrate imatrix; do
    # shellcheck disable=SC2086  # "bench serve" is two words
    echo; echo "## weft $c"; echo; echo '```'; help $c; echo '```'
  done
}
if [ "${1:-}" = --check ]; then
  if ! diff -u docs/CLI.md <(page) > /dev/null; then
    diff -u docs/CLI.md <(page) | head -n 40
    echo "docs/CLI.md differs from weft --help: run scripts/gen-cli-doc.sh and commit docs/CLI.md" >&2
    exit 1
  fi
  exit 0
fi
page > docs/CLI.md
