# Sourced by the test setups that install npm packages (tests/e2e/run.sh, tests/lenml/setup.sh):
# without node or npm they fail and say so, never skip.
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FAIL: $tool is not installed; scripts/install-deps.sh installs it (Debian packages nodejs, npm)" >&2
    exit 1
  fi
done
