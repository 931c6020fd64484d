// weft tokenize MODEL TEXT: the token ids of a text, one "id<TAB>'piece'" line each.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "base/mapped_file.h"
#include "cli/commands.h"
#include "cli/compat_flags.h"
#include "loader/model_source.h"
#include "tokenizer/tokenizer.h"

namespace weft::cli {
namespace {

// A token's text for a terminal: printable ASCII and whole UTF-8 characters as they
// are, quotes/backslashes/control bytes/stray bytes escaped.
std::string Printable(std::string_view bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size();) {
    auto c = static_cast<uint8_t>(bytes[i]);
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c == '\\') out += "\\\\";
    else if (c == '\'') out += "\\'";
    else if (c >= 0x20 && c < 0x7F) out.push_back(static_cast<char>(c));
    else {
      size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      bool whole = len > 1 && i + len <= bytes.size();
      for (size_t k = 1; whole && k < len; ++k) whole = (static_cast<uint8_t>(bytes[i + k]) & 0xC0) == 0x80;
      if (whole) {
        out.append(bytes.substr(i, len));
        i += len;
        continue;
      }
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    }
    ++i;
  }
  return out;
}

StatusOr<std::shared_ptr<const Tokenizer>> OpenTokenizer(const std::string& spec) {
  std::error_code ec;
  if (std::filesystem::exists(spec, ec)) return LoadTokenizerFromPath(spec);
  WEFT_ASSIGN_OR_RETURN(std::string path, ResolveModelPath(spec, ModelSearchPaths::FromEnvironment()));
  return LoadTokenizerFromPath(path);
}

}  // namespace

void RegisterTokenizeCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text (one 'id<TAB>piece' line each)");
  struct Args {
    std::string model, text, file;
    bool ids = false, no_special = false, parse_special = false, stats = false;
  };
  auto a = std::make_shared<Args>();
  AddModelOption(cmd, &a->model,
                  "A model (.gguf, HF directory, llama2.c .bin, or a name), a tokenizer.json, or a directory "
                  "holding one")
      ->required();
  cmd->add_option("text", a->text, "The text to tokenize");
  cmd->add_option("-f,--file", a->file, "Read the text from this file instead");
  cmd->add_flag("--ids", a->ids, "Print only the ids, space-separated on one line");
  cmd->add_flag("--no-special", a->no_special, "Do not add BOS/EOS");
  cmd->add_flag("--parse-special", a->parse_special, "Turn special-token text in the input (e.g. <|im_start|>) into the token");
  cmd->add_flag("--stats", a->stats, "Print the token count and encoding speed to stderr instead of the tokens");
  cmd->callback([a, exit_code] {
    auto fail = [&](const std::string& msg) {
      std::fprintf(stderr, "weft tokenize: %s\n", msg.c_str());
      *exit_code = 1;
    };
    if (!a->file.empty() && !a->text.empty()) return fail("give either TEXT or --file, not both");
    std::string text = a->text;
    if (!a->file.empty()) {
      auto content = ReadFileToString(a->file);
      if (!content.ok()) return fail(content.status().message());
      text = std::move(content).value();
    }
    auto tok = OpenTokenizer(a->model);
    if (!tok.ok()) return fail(tok.status().message());
    EncodeOptions options;
    options.add_special = !a->no_special;
    options.parse_special = a->parse_special;
    auto start = std::chrono::steady_clock::now();
    std::vector<int32_t> ids = (*tok)->Encode(text, options);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (a->stats) {
      std::fprintf(stderr, "%zu bytes -> %zu tokens in %.3f s: %.0f tokens/s, %.1f MB/s\n", text.size(), ids.size(),
                   seconds, ids.size() / std::max(seconds, 1e-9), text.size() / std::max(seconds, 1e-9) / 1e6);
      return;
    }
    std::string out;
    if (a->ids) {
      for (size_t i = 0; i < ids.size(); ++i) out += (i ? " " : "") + std::to_string(ids[i]);
      out += "\n";
    } else {
      for (int32_t id : ids)
        out += std::to_string(id) + "\t'" + Printable((*tok)->TokenBytes(id, /*skip_special=*/false)) + "'\n";
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
  });
}

}  // namespace weft::cli
