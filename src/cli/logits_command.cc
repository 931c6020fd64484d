// weft logits MODEL --tokens IDS_FILE --out FILE [--positions P...]: evaluate a token
// sequence from position 0 and write the logits in the WGLD v2 format, so that any tool
// can compare weft with a reference implementation.
#include <CLI/CLI.hpp>

#include "cli/model_flags.h"

#include <cstdio>
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "cli/commands.h"
#include "cli/compat_flags.h"
#include "eval/logits_file.h"
#include "eval/single_sequence.h"
#include "model/model_runner.h"
#include "weft/engine.h"

namespace weft::cli {
namespace {

StatusOr<std::vector<int32_t>> ReadIds(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError(path + ": cannot open the token ids file");
  std::vector<int32_t> ids;
  std::string word;
  while (in >> word) {
    char* end = nullptr;
    long v = std::strtol(word.c_str(), &end, 10);
    if (*end != '\0' || v < 0 || v > INT32_MAX) {
      return InvalidArgumentError(path + ": '" + word + "' is not a token id (expected whitespace-separated integers)");
    }
    ids.push_back(static_cast<int32_t>(v));
  }
  if (ids.empty()) return InvalidArgumentError(path + ": no token ids");
  return ids;
}

Status RunLogits(const std::string& model, const std::string& ids_path, const std::string& out_path,
                 std::vector<int> positions, int threads, const ModelFlags& model_flags) {
  WEFT_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ReadIds(ids_path));
  const auto n = static_cast<int64_t>(ids.size());
  if (positions.empty()) {
    for (int64_t i = 0; i < n; ++i) positions.push_back(static_cast<int>(i));
  }
  std::sort(positions.begin(), positions.end());
  positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
  for (int p : positions) {
    if (p < 0 || p >= n) return InvalidArgumentError("--positions: " + std::to_string(p) + " is not a position of the " + std::to_string(n) + " tokens");
  }
  RunnerOptions options;
  options.threads = threads;
  OpenModelOptions no_tokenizer;
  no_tokenizer.load_tokenizer = false;  // the ids come from a file
  WEFT_ASSIGN_OR_RETURN(OpenModelOptions open, OpenOptionsFrom(model_flags, no_tokenizer));
  WEFT_ASSIGN_OR_RETURN(OpenedModel m, OpenModel(model, open));
  WEFT_ASSIGN_OR_RETURN(auto runner, ModelRunner::Create(m.model, options));
  WEFT_RETURN_IF_ERROR(RefuseKvWindow(model_flags, "weft logits"));
  WEFT_ASSIGN_OR_RETURN(const kernels::KvTypes kv_type, KvTypeFrom(model_flags));
  WEFT_ASSIGN_OR_RETURN(auto seq, SingleSequence::Create(runner.get(), n, 16, kv_type));
  LogitsFile f;
  f.n_vocab = static_cast<uint32_t>(runner->config().n_vocab);
  f.tokens.assign(ids.begin(), ids.end());
  f.keep.assign(positions.begin(), positions.end());
  f.logits.resize(f.keep.size() * f.n_vocab);
  std::vector<int32_t> rows(positions.begin(), positions.end());
  WEFT_RETURN_IF_ERROR(seq->Append(ids, rows, f.logits.data()));
  WEFT_RETURN_IF_ERROR(WriteLogitsFile(out_path, f));
  std::fprintf(stderr, "weft logits: %zu positions x %u vocab -> %s (%s kernels)\n", f.keep.size(), f.n_vocab,
               out_path.c_str(), runner->isa_name());
  return Status::Ok();
}

}  // namespace

void RegisterLogitsCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("logits",
                                 "Evaluate token ids from position 0 and write the raw logits (WGLD v2, see "
                                 "../shared/golden/README.md) for comparison with a reference");
  struct Args {
    std::string model, tokens, out;
    std::vector<int> positions;
    int threads = 0;
    ModelFlags model_flags;
  };
  auto args = std::make_shared<Args>();
  AddModelOption(cmd, &args->model, "Model file, directory, name or hf:owner/repo")->required();
  cmd->add_option("--tokens", args->tokens, "File of whitespace-separated token ids (no BOS is added)")->required();
  cmd->add_option("--out", args->out, "Output .logits file")->required();
  cmd->add_option("--positions", args->positions, "Positions whose logits to keep (default: all)");
  cmd->add_option("-t,--threads", args->threads, "Compute threads (default: one per physical core)");
  AddModelFlags(cmd, &args->model_flags);
  cmd->callback([args, exit_code] {
    Status s = RunLogits(args->model, args->tokens, args->out, args->positions, args->threads, args->model_flags);
    if (!s.ok()) {
      std::fprintf(stderr, "weft logits: %s\n", s.message().c_str());
      *exit_code = 1;
    }
  });
}

}  // namespace weft::cli
