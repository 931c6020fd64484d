#include "cli/compat_flags.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <set>
#include <utility>

namespace weft::cli {
namespace {

// llama.cpp flags with several letters after one dash, and the long form weft parses.
constexpr std::pair<const char*, const char*> kMultiLetterFlags[] = {
    {"-ngl", "--n-gpu-layers"}, {"-fa", "--flash-attn"}, {"-np", "--parallel"}, {"-sys", "--system-prompt"},
};

// llama.cpp / vLLM spellings weft does not take, and the weft flag that does the job.
constexpr std::pair<const char*, const char*> kWeftSpelling[] = {
    {"--temperature", "--temp"},
    {"--max-tokens", "-n"},
    {"--predict", "-n"},
    {"--n-predict", "-n"},
    {"--ctx", "-c"},
    {"--n-threads", "-t"},
    {"--threads-batch", "-t"},
    {"--prompt-file", "-f"},
    {"--system-prompt", "--system"},
    {"--batch-size", "--max-batched-tokens"},
    {"--ubatch-size", "--max-batched-tokens"},
    {"--kv-cache-memory", "--kv-cache-mem"},
    {"--parallel", "--max-seqs"},
    {"--verbose", "--log-level debug (before the command)"},
    {"--log-disable", "--log-level off (before the command)"},
    {"--request-rate", "-r"},
    {"--port", "--url"},
};

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The weft spelling of `flag` on `cmd`: from the table when the command has it, else its
// closest long flag (a typo), else "".
std::string WeftSpelling(const CLI::App& cmd, const std::string& flag) {
  const std::string name = flag.substr(0, flag.find('='));
  for (const auto& [foreign, weft] : kWeftSpelling) {
    if (name != foreign) continue;
    const std::string first = std::string(weft).substr(0, std::string(weft).find(' '));
    if (first == "--log-level" || cmd.get_option_no_throw(first) != nullptr) return weft;
  }
  std::string prefixed;  // a long flag that starts with what was typed, when only one does
  int num_prefixed = 0;
  for (const CLI::Option* o : cmd.get_options()) {
    for (const std::string& l : o->get_lnames()) {
      if (("--" + l).rfind(name, 0) == 0 && name.size() > 3) ++num_prefixed, prefixed = "--" + l;
    }
  }
  if (num_prefixed == 1) return prefixed;
  std::string best;
  size_t best_d = 3;  // a typo: two edits at most
  for (const CLI::Option* o : cmd.get_options()) {
    for (const std::string& l : o->get_lnames()) {
      const size_t d = EditDistance(name, "--" + l);
      if (d < best_d) best_d = d, best = "--" + l;
    }
  }
  return best;
}

std::string CommandPath(const CLI::App* cmd) {
  std::string path;
  for (const CLI::App* c = cmd; c != nullptr; c = c->get_parent()) {
    path = c->get_parent() == nullptr ? "weft" + path : " " + c->get_name() + path;
  }
  return path;
}

}  // namespace

std::vector<std::string> NormalizeLlamaCppArgs(int argc, char** argv) {
  static const std::set<std::string> kFlashValues = {"on", "off", "auto", "0", "1", "true", "false"};
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {  // everything after is an argument, not a flag
      for (; i < argc; ++i) out.emplace_back(argv[i]);
      break;
    }
    for (const auto& [single, long_form] : kMultiLetterFlags) {
      if (arg == single) arg = long_form;
    }
    if (arg == "--flash-attn") {  // -fa alone (old llama.cpp), or -fa on|off|auto, llama-bench's -fa 0,1
      bool valued = i + 1 < argc;
      if (valued) {
        const std::string v = argv[i + 1];
        size_t start = 0;
        for (size_t end = 0; valued && start <= v.size(); start = end + 1) {
          end = std::min(v.find(',', start), v.size());
          valued = kFlashValues.count(v.substr(start, end - start)) != 0;
        }
      }
      arg += "=" + std::string(valued ? argv[++i] : "on");
    }
    out.push_back(std::move(arg));
  }
  return out;
}

CLI::Option* AddModelOption(CLI::App* cmd, std::string* model, const std::string& help) {
  return cmd->add_option("model,-m,--model", *model, help + " (positional, or -m/--model)");
}

void AddGpuOnlyFlags(CLI::App* cmd) {
  auto noted = std::make_shared<bool>(false);
  auto note = [cmd, noted](const std::string& flag) {
    return [cmd, noted, flag](const std::string&) {
      if (*noted) return;
      *noted = true;
      std::fprintf(stderr, "%s: note: weft runs on the CPU; %s and the other GPU flags change nothing\n",
                   CommandPath(cmd).c_str(), flag.c_str());
    };
  };
  cmd->add_option("--n-gpu-layers,--gpu-layers", "GPU-only (llama.cpp -ngl): accepted, no effect; weft runs on the CPU")
      ->each(note("-ngl/--n-gpu-layers"))
      ->group("GPU flags (accepted, no effect)");
  cmd->add_option("--flash-attn", "GPU-only (llama.cpp -fa): accepted, no effect; weft's attention is always fused")
      ->each(note("-fa/--flash-attn"))
      ->group("GPU flags (accepted, no effect)");
  cmd->add_option("--gpu-memory-utilization", "GPU-only (vLLM): accepted, no effect; the KV cache size is --kv-cache-mem "
                                              "where the command has it")
      ->each(note("--gpu-memory-utilization"))
      ->group("GPU flags (accepted, no effect)");
}

std::string UnknownFlagMessage(const CLI::App& app) {
  const CLI::App* cmd = &app;
  for (bool deeper = true; deeper;) {
    deeper = false;
    for (const CLI::App* sub : cmd->get_subcommands()) {
      if (sub->parsed()) {
        cmd = sub;
        deeper = true;
        break;
      }
    }
  }
  if (cmd == &app) return "";
  const std::vector<std::string> extras = cmd->remaining(false);
  if (extras.empty()) return "";
  const std::string path = CommandPath(cmd);
  std::string flag = extras[0];
  for (const auto& [single, long_form] : kMultiLetterFlags) {  // as typed: -ngl, not --n-gpu-layers
    if (flag.substr(0, flag.find('=')) == long_form) flag = std::string(single) + " (" + flag + ")";
  }
  if (flag.empty() || flag[0] != '-') {
    return fmt::format("{}: unexpected argument '{}' ({} --help lists the arguments)", path, flag, path);
  }
  const std::string weft = WeftSpelling(*cmd, extras[0]);
  if (weft.empty()) return fmt::format("{}: unknown flag {} ({} --help lists the flags)", path, flag, path);
  return fmt::format("{}: unknown flag {} (weft spells it {}; {} --help lists the flags)", path, flag, weft, path);
}

}  // namespace weft::cli
