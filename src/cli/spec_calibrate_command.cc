// weft spec-calibrate MODEL -f TEXT: picks the layers a self-speculative draft (--spec
// self:LAYERS[:K], Draft & Verify) skips, greedily by the draft's agreement with the
// target on the text (spec/self_calibration.h), and prints the flag to use.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>

#include "base/mapped_file.h"
#include "cli/commands.h"
#include "cli/compat_flags.h"
#include "cli/model_flags.h"
#include "cli/progress.h"
#include "spec/self_calibration.h"
#include "spec/spec_config.h"
#include "weft/engine.h"

namespace weft::cli {
namespace {

struct Args {
  ModelFlags model_flags;
  std::string model, file;
  int64_t max_tokens = 256;
  int max_skip = -1, max_draft = 8, threads = 0;
};

Status Run(const Args& a) {
  WEFT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(a.file));
  WEFT_ASSIGN_OR_RETURN(OpenModelOptions open, OpenOptionsFrom(a.model_flags));
  WEFT_ASSIGN_OR_RETURN(OpenedModel m, OpenModel(a.model, open));
  std::vector<int32_t> tokens = m.tokenizer->Encode(text);
  if (a.max_tokens < 2) return InvalidArgumentError("-n/--tokens must be at least 2");
  if (static_cast<int64_t>(tokens.size()) > a.max_tokens) tokens.resize(static_cast<size_t>(a.max_tokens));
  if (tokens.size() < 2) return InvalidArgumentError(fmt::format("{}: fewer than 2 tokens of text", a.file));
  SelfCalibrationOptions o;
  o.threads = a.threads;
  o.max_skip = a.max_skip;
  o.max_draft = a.max_draft;
  std::fprintf(stderr, "weft spec-calibrate: %zu tokens of %s, %lld layers\n", tokens.size(), a.file.c_str(),
               static_cast<long long>(m.model->config().n_layer));
  ProgressBar bar("calibrating");
  WEFT_ASSIGN_OR_RETURN(auto rows, CalibrateSelfSpeculation(m.model, tokens, o, [&](int done, int total) {
                          bar.Update(done, total, "");
                        }));
  bar.Finish();
  std::printf("%-8s %-24s %10s %8s %4s %10s\n", "skipped", "layers", "agreement", "cost", "K", "speedup*");
  const SelfCalibrationRow* best = nullptr;
  for (const SelfCalibrationRow& r : rows) {
    std::printf("%-8zu %-24s %9.1f%% %8.3f %4d %9.2fx\n", r.skip.size(), LayerSetText(r.skip).c_str(),
                100 * r.agreement, r.cost, r.best_k, r.speedup);
    if (best == nullptr || r.speedup > best->speedup) best = &r;
  }
  std::printf("* estimated from the agreement and the bytes read (spec/self_calibration.h); measure with "
              "weft bench --batch 1 --spec ...\n");
  if (best == nullptr || best->speedup <= 1.0) {
    std::printf("no skip set is estimated to pay off on this text; leave --spec self out\n");
  } else {
    std::printf("use: --spec self:%s:%d\n", LayerSetText(best->skip).c_str(), best->best_k);
  }
  return Status::Ok();
}

}  // namespace

void RegisterSpecCalibrateCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("spec-calibrate", "Choose the layers a self-speculative draft skips (--spec self), "
                                                   "greedily by agreement with the full model on a text");
  auto a = std::make_shared<Args>();
  AddModelOption(cmd, &a->model, "Model file, directory, name or hf:owner/repo")->required();
  AddModelFlags(cmd, &a->model_flags);
  cmd->add_option("-f,--file", a->file, "Text to calibrate on (like the text the model will generate)")->required();
  cmd->add_option("-n,--tokens", a->max_tokens, "Use the text's first N tokens (default: 256)");
  cmd->add_option("--max-skip", a->max_skip, "Skip at most this many layers (default: half the layers)");
  cmd->add_option("-K,--max-draft", a->max_draft, "Longest draft length considered (default: 8)")
      ->check(CLI::Range(1, 16));
  cmd->add_option("-t,--threads", a->threads, "Compute threads (default: one per physical core)");
  cmd->callback([a, exit_code] {
    Status s = Run(*a);
    if (!s.ok()) {
      std::fprintf(stderr, "weft spec-calibrate: %s\n", s.message().c_str());
      *exit_code = 1;
    }
  });
}

}  // namespace weft::cli
