#!/usr/bin/env bash
# docs/CLI.md is what `weft COMMAND --help` says, word for word (scripts/gen-cli-doc.sh
# --check): a flag added to a command without regenerating the page fails here.
# usage: cli_doc.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1
WEFT=$weft bash "$(dirname "$0")/../../scripts/gen-cli-doc.sh" --check || { echo "FAIL: docs/CLI.md drifted from --help"; exit 1; }
grep -q -- "-d,--n-depth" "$(dirname "$0")/../../docs/CLI.md" || { echo "FAIL: docs/CLI.md lacks bench -d"; exit 1; }
echo "cli_doc: docs/CLI.md matches --help"
