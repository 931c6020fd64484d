#!/usr/bin/env bash
# Installs exactly the Debian packages weft needs to build, test and run.
# Idempotent: when everything is present it only checks (no apt-get update, no network).
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ make cmake ninja-build ccache pkg-config git python3
  # libraries (../shared/docs/DESIGN.md, "Rules of the house": Debian packages, not hand-written copies)
  libfmt-dev nlohmann-json3-dev libcli11-dev libcurl4-openssl-dev libpcre2-dev
  libxxhash-dev libcpp-httplib-dev
  libutf8proc-dev  # Unicode normalisation (NFC/NFKC/NFD) for the tokenizers and the Jinja library
  libboost-dev  # Boost.Beast + Asio: the event-driven HTTP transport (header-only)
  libedit-dev  # line editing and history at weft chat's prompt
  libopenmpi-dev openmpi-bin  # src/dist: tensor parallel over MPI (mpirun, collectives)
  # tests, benchmarks, fuzzing (libFuzzer comes with clang's runtime)
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev
  json-schema-test-suite  # tests/unit/grammar: JSON-Schema-Test-Suite draft7 cases for the schema compiler
  python3-jinja2  # tests/tools: reference renders of chat templates (Jinja2 as transformers uses it)
  tmux  # tests/cli/chat_tmux.sh drives weft chat in a terminal
  time  # bench/expert_offload.py reads peak RSS from /usr/bin/time -v
  chromium  # tests/cli/report_screenshot.sh renders weft bench serve's HTML report headless
  nodejs  # tests/e2e: the official openai npm client against weft serve (run.sh installs it with npm ci)
)
# npm: Debian's package, unless the nodejs installed already brings its own (NodeSource's
# does, and it conflicts with Debian's npm).
if ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to apt-get install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
