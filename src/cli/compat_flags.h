// The spellings llama.cpp and vLLM users type, accepted or explained by every command:
// -m/--model beside the positional MODEL, GPU-only flags (accepted with a note that weft
// runs on the CPU), llama.cpp's multi-letter single-dash flags (-ngl, -fa, -np, -sys)
// and the one-line message for an unknown flag, which names the command and the weft
// spelling where there is one. Called while commands are registered and argv parsed,
// on the main thread only.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace weft::cli {

// Rewrites llama.cpp's multi-letter single-dash flags into long ones CLI11 parses
// (`-ngl 99` would otherwise read as `-n gl`); argv[0] is dropped.
std::vector<std::string> NormalizeLlamaCppArgs(int argc, char** argv);

// The model as a positional MODEL or -m/--model (llama.cpp, llama-bench).
CLI::Option* AddModelOption(CLI::App* cmd, std::string* model, const std::string& help);

// -ngl/--n-gpu-layers, -fa/--flash-attn, --gpu-memory-utilization: accepted, and one
// note on stderr says that weft runs on the CPU and what was not used.
void AddGpuOnlyFlags(CLI::App* cmd);

// "weft run: unknown flag --temperature (weft spells it --temp; weft run --help lists
// the flags)" for the innermost command that was parsed, or "" when `app` parsed none.
std::string UnknownFlagMessage(const CLI::App& app);

}  // namespace weft::cli
