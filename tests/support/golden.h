// Access to ../shared/golden for model tests: synthetic models generated on demand (and
// checked against the index's sha256), the accuracy bar of golden/README.md.
#pragma once

#include <string>

#include "weft/status.h"

namespace weft::testing {

std::string SharedDir();   // ../shared
std::string GoldenDir();   // ../shared/golden
// Generates (once per build) ../shared/tools/synth_gguf.py --preset P --type T (through
// tests/tools/synth_real_width.py, which adds presets such as l1b2) into the
// build's synth cache and returns the path; the file's sha256 must equal `sha256` when
// given. Safe when several tests ask for the same file at once.
StatusOr<std::string> SynthModel(const std::string& preset, const std::string& type, const std::string& sha256 = "");

}  // namespace weft::testing
