// weft quantize IN OUT --type T: rewrite a GGUF model (or convert a Hugging Face one)
// with its weights in another type (llama.cpp's mixes: Q4_K_M, Q8_0, ...),
// byte-identical to llama-quantize for the same input and flags. The work is in quant/ (quantize_model.h); this file parses flags and
// draws the progress bar.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "cli/commands.h"
#include "cli/gptq_calibration.h"
#include "cli/progress.h"
#include "loader/gguf.h"
#include "quant/quant_plan.h"
#include "quant/quant_rows.h"
#include "quant/quantize_model.h"
#include "quant/scale_fold.h"

namespace weft::cli {
namespace {

struct QuantizeArgs {
  std::string in, out, type;
  bool pure = false, leave_output = false, allow_requantize = false;
  std::string output_type, token_embedding_type, imatrix;
  std::vector<std::string> tensor_types;
  int threads = 0;
  // --method gptq
  std::string method = "rtn", calib, gptq_fit = "weighted";
  int64_t calib_chunks = 64, calib_ctx = 512, calib_skip = 0;
  double percdamp = 0.01;
  bool act_order = false;
  // --method awq / --smooth
  double awq_alpha = -1;
  std::vector<std::string> smooth_args;
  bool smooth_given = false;
};

// --smooth [ALPHA]: 0.5 when given without a value; a number in (0, 1].
StatusOr<double> SmoothAlpha(const QuantizeArgs& a) {
  if (a.smooth_args.empty() || a.smooth_args[0].empty()) return 0.5;  // CLI11 gives "" for a bare flag
  const std::string& v = a.smooth_args[0];
  char* end = nullptr;
  const double alpha = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0') {
    return InvalidArgumentError("--smooth: '" + v + "' is not a number: give alpha in (0, 1] (--smooth 0.5), or put "
                                "--smooth after IN OUT");
  }
  if (!(alpha > 0 && alpha <= 1)) {
    return InvalidArgumentError("--smooth " + v + ": alpha must be in (0, 1] (SmoothQuant's migration strength; 0.5 is "
                                "the paper's default)");
  }
  return alpha;
}

// Flag combinations: which method owns which flags.
Status CheckMethodFlags(const QuantizeArgs& a) {
  const bool gptq_flags = a.percdamp != 0.01 || a.gptq_fit != "weighted" || a.act_order;
  const bool calib_flags = !a.calib.empty() || a.calib_chunks != 64 || a.calib_ctx != 512 || a.calib_skip != 0;
  if (a.awq_alpha != -1 && a.method != "awq") return InvalidArgumentError("--awq-alpha is for --method awq");
  if (a.smooth_given) {
    if (a.method != "rtn") {
      return InvalidArgumentError("--smooth does not combine with --method " + a.method +
                                  " (both change the weights from calibration statistics; use one)");
    }
    if (a.calib.empty()) return InvalidArgumentError("--smooth needs --calib TEXT (its max |x| per channel come from it)");
    if (!a.imatrix.empty()) return InvalidArgumentError("--smooth and --imatrix do not combine: use one of them");
    if (gptq_flags) return InvalidArgumentError("--percdamp, --gptq-fit and --act-order are for --method gptq");
    return SmoothAlpha(a).status();
  }
  if (a.method == "gptq") {
    if (a.calib.empty()) return InvalidArgumentError("--method gptq needs --calib TEXT (a calibration text file)");
    if (!a.imatrix.empty()) return InvalidArgumentError("--method gptq and --imatrix do not combine: use one of them");
    if (!(a.percdamp > 0 && a.percdamp < 1)) return InvalidArgumentError("--percdamp: a fraction in (0, 1)");
    if (a.gptq_fit != "weighted" && a.gptq_fit != "rtn") {
      return InvalidArgumentError("--gptq-fit: 'weighted' or 'rtn', not '" + a.gptq_fit + "'");
    }
  } else if (a.method == "awq") {
    if (a.calib.empty()) return InvalidArgumentError("--method awq needs --calib TEXT (a calibration text file)");
    if (!a.imatrix.empty()) return InvalidArgumentError("--method awq and --imatrix do not combine: use one of them");
    if (gptq_flags) {
      return InvalidArgumentError("--percdamp, --gptq-fit and --act-order are GPTQ's: --method awq does not combine "
                                  "with GPTQ (pick --method awq or --method gptq)");
    }
    if (a.awq_alpha != -1 && !(a.awq_alpha >= 0 && a.awq_alpha <= 1)) {
      return InvalidArgumentError("--awq-alpha: in [0, 1] (the exponent of the activation scale)");
    }
  } else if (a.method != "rtn") {
    return InvalidArgumentError("--method: 'rtn', 'gptq' or 'awq', not '" + a.method + "'");
  } else if (calib_flags || gptq_flags) {
    return InvalidArgumentError("--calib, --calib-*, --percdamp, --gptq-fit and --act-order are for --method gptq or "
                                "awq, or --smooth (for an importance matrix run weft imatrix -f TEXT)");
  }
  return Status::Ok();
}

// AWQ / SmoothQuant: the calibration statistics, then the scales of every group, folded
// into the norms and producing linears (quant/scale_fold.h). Prints what it did.
StatusOr<quant::FoldPlan> PlanFold(const QuantizeArgs& a, const quant::QuantizeOptions& opt, ThreadPool& pool) {
  WEFT_ASSIGN_OR_RETURN(const std::shared_ptr<const GgufFile> in, OpenGgufFile(a.in));
  WEFT_RETURN_IF_ERROR(quant::CheckScaleFoldArchitecture(*in));
  // The plan first: a model the type cannot serve is refused before the calibration run.
  WEFT_ASSIGN_OR_RETURN(const std::vector<quant::PlannedTensor> plan, quant::PlanQuantization(*in, *opt.mix, opt.plan));
  const bool awq = a.method == "awq";
  CalibrationOptions co;
  co.model = a.in;
  co.text_file = a.calib;
  co.n_ctx = a.calib_ctx;
  co.chunks = a.calib_chunks;
  co.skip_chunks = a.calib_skip;
  co.threads = a.threads;
  co.label = awq ? "awq" : "smoothquant";
  co.with_hessian = awq;  // the search's score, and E(alpha) of a fixed alpha
  const auto t0 = std::chrono::steady_clock::now();
  WEFT_ASSIGN_OR_RETURN(std::unique_ptr<HessianCollector> collected, CollectHessians(co, &pool));
  const double calib_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::map<const HessianCollector::Group*, quant::InputStats> stats;
  std::vector<std::vector<float>> means;
  for (const auto& [name, g] : collected->groups()) {
    if (stats.count(g.get()) > 0) continue;
    std::vector<float>& mean = means.emplace_back(static_cast<size_t>(g->k));
    for (int64_t j = 0; j < g->k; ++j) {
      mean[static_cast<size_t>(j)] = g->rows > 0 ? static_cast<float>(g->abs_sum[static_cast<size_t>(j)] / g->rows) : 0.0f;
    }
    stats[g.get()] = {g->k, g->h.empty() ? nullptr : g->h.data(), mean.data(), g->abs_max.data(), &g->weights};
  }
  auto stats_of = [&](const std::string& weight) -> const quant::InputStats* {
    auto it = collected->groups().find(weight);
    return it == collected->groups().end() ? nullptr : &stats.at(it->second.get());
  };
  quant::FoldOptions fo;
  fo.rule = awq ? quant::ScaleRule::kAwq : quant::ScaleRule::kSmoothQuant;
  fo.awq.fixed_alpha = a.awq_alpha;
  if (!awq) {
    WEFT_ASSIGN_OR_RETURN(fo.smooth_alpha, SmoothAlpha(a));
  }
  const auto t1 = std::chrono::steady_clock::now();
  WEFT_ASSIGN_OR_RETURN(quant::FoldPlan fold, quant::PlanScaleFolding(*in, plan, stats_of, fo, pool));
  const double search_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  double e0 = 0, e1 = 0, alpha_sum = 0;
  int duo = 0;
  for (const quant::FoldedGroup& g : fold.groups) {
    e0 += g.rtn_error;
    e1 += g.error;
    alpha_sum += g.alpha;
    duo += g.duo ? 1 : 0;
  }
  const double n = std::max<double>(1, static_cast<double>(fold.groups.size()));
  if (awq) {
    std::fprintf(stderr,
                 "weft quantize: awq: %zu groups scaled (mean alpha %.2f%s; %d in the duo form), %zu tensors with folded "
                 "scales; layer output error on the calibration inputs %.4g of round-to-nearest's; calibration %.2f s, "
                 "search %.2f s\n",
                 fold.groups.size(), alpha_sum / n, a.awq_alpha >= 0 ? ", fixed" : "", duo, fold.tensors.size(),
                 e0 > 0 ? e1 / e0 : 1.0, calib_seconds, search_seconds);
  } else {
    std::fprintf(stderr, "weft quantize: smoothquant: alpha %.2f, %zu groups scaled, %zu tensors with folded scales; "
                 "calibration %.2f s\n", fo.smooth_alpha, fold.groups.size(), fold.tensors.size(), calib_seconds);
  }
  for (size_t i = 0; i < fold.skipped.size(); ++i) {
    if (i == 4) {
      std::fprintf(stderr, "weft quantize:   ... and %zu more groups left unscaled\n", fold.skipped.size() - i);
      break;
    }
    std::fprintf(stderr, "weft quantize:   unscaled: %s\n", fold.skipped[i].c_str());
  }
  return fold;
}

StatusOr<DType> WritableType(const std::string& flag, const std::string& name) {
  const std::optional<DType> t = DTypeFromName(name);
  if (!t || !quant::CanQuantizeTo(*t)) {
    return InvalidArgumentError(flag + ": '" + name + "' is not a type weft can write (F32, F16, BF16, Q4_0, Q4_1, "
                                "Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL)");
  }
  return *t;
}

std::string MixList() {
  std::string s;
  for (const quant::QuantMix& m : quant::AllQuantMixes()) s += (s.empty() ? "" : ", ") + std::string(m.name);
  return s;
}

Status RunQuantize(const QuantizeArgs& a) {
  WEFT_RETURN_IF_ERROR(CheckMethodFlags(a));
  quant::QuantizeOptions opt;
  opt.mix = quant::FindQuantMix(a.type);
  if (opt.mix == nullptr) return InvalidArgumentError("--type: '" + a.type + "' is not one of " + MixList());
  opt.plan.pure = a.pure;
  opt.plan.leave_output = a.leave_output;
  opt.allow_requantize = a.allow_requantize;
  quant::Imatrix imatrix;
  if (!a.imatrix.empty()) {
    WEFT_ASSIGN_OR_RETURN(imatrix, quant::ReadImatrix(a.imatrix));
    for (const auto& [name, e] : imatrix.entries) {
      for (float v : e.values) {
        if (!std::isfinite(v)) return InvalidArgumentError("--imatrix " + a.imatrix + ": " + name + " holds " + std::to_string(v));
      }
    }
    opt.imatrix = &imatrix;
    opt.imatrix_path = a.imatrix;
    opt.plan.has_imatrix = true;
    std::fprintf(stderr, "weft quantize: importance matrix %s: %zu entries, %d chunks%s%s\n", a.imatrix.c_str(),
                 imatrix.entries.size(), imatrix.chunks, imatrix.dataset.empty() ? "" : " of ", imatrix.dataset.c_str());
  }
  if (!a.output_type.empty()) {
    WEFT_ASSIGN_OR_RETURN(opt.plan.output_type, WritableType("--output-tensor-type", a.output_type));
  }
  if (!a.token_embedding_type.empty()) {
    WEFT_ASSIGN_OR_RETURN(opt.plan.token_embedding_type, WritableType("--token-embedding-type", a.token_embedding_type));
  }
  for (const std::string& s : a.tensor_types) {
    WEFT_ASSIGN_OR_RETURN(quant::TensorTypeOverride o, quant::ParseTensorTypeOverride(s));
    opt.plan.overrides.push_back(std::move(o));
  }
  if (a.in == a.out) return InvalidArgumentError("the output must not be the input file");
  ThreadPool pool(a.threads);
  // GPTQ: Hessians from the calibration run, factored when their first weight comes up.
  std::unique_ptr<HessianCollector> hessians;
  std::map<const HessianCollector::Group*, std::unique_ptr<quant::GptqFactor>> factors;
  double factor_seconds = 0, calib_seconds = 0;
  int dead_columns = 0;
  if (a.method == "gptq") {
    CalibrationOptions co;
    co.model = a.in;
    co.text_file = a.calib;
    co.n_ctx = a.calib_ctx;
    co.chunks = a.calib_chunks;
    co.skip_chunks = a.calib_skip;
    co.threads = a.threads;
    const auto t0 = std::chrono::steady_clock::now();
    WEFT_ASSIGN_OR_RETURN(hessians, CollectHessians(co, &pool));
    calib_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    opt.gptq_options.weighted_fit = a.gptq_fit == "weighted";
    opt.gptq_factor = [&](const std::string& name, int64_t k) -> StatusOr<const quant::GptqFactor*> {
      auto it = hessians->groups().find(name);
      if (it == hessians->groups().end()) return static_cast<const quant::GptqFactor*>(nullptr);
      HessianCollector::Group* g = it->second.get();
      auto& f = factors[g];
      if (f == nullptr) {
        if (g->k != k) return InvalidArgumentError(fmt::format("gptq: {} has rows of {}, its input {}", name, k, g->k));
        const auto t0 = std::chrono::steady_clock::now();
        WEFT_ASSIGN_OR_RETURN(quant::GptqFactor factor, quant::FactorHessian(g->h.data(), g->k, a.percdamp, a.act_order, pool));
        factor_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        dead_columns += factor.dead;
        f = std::make_unique<quant::GptqFactor>(std::move(factor));
        g->h.clear();
        g->h.shrink_to_fit();
      }
      return static_cast<const quant::GptqFactor*>(f.get());
    };
  }
  quant::FoldPlan fold;
  if (a.method == "awq" || a.smooth_given) {
    WEFT_ASSIGN_OR_RETURN(fold, PlanFold(a, opt, pool));
    opt.scales = &fold.tensors;
  }
  ProgressBar bar("quantize");
  auto progress = [&bar](uint64_t done, uint64_t total, const std::string& name) {
    bar.Update(static_cast<int64_t>(done >> 20), static_cast<int64_t>(total >> 20), "MiB " + name);
  };
  auto report = quant::QuantizeModel(a.in, a.out, opt, pool, progress);
  bar.Finish();
  if (!report.ok()) return std::move(report).status();
  std::fprintf(stderr, "weft quantize: %s -> %s (%s): %d tensors, %d converted, %.1f MiB -> %.1f MiB in %.2f s (%d threads)\n",
               a.in.c_str(), a.out.c_str(), std::string(opt.mix->name).c_str(), report->tensors, report->converted,
               static_cast<double>(report->bytes_in) / (1 << 20), static_cast<double>(report->bytes_out) / (1 << 20),
               report->seconds, pool.num_threads());
  if (opt.imatrix != nullptr) {
    std::fprintf(stderr, "weft quantize: %d tensors used importance weights\n", report->with_imatrix);
  }
  if (opt.scales != nullptr) {
    std::fprintf(stderr, "weft quantize: %d tensors written with folded %s scales\n", report->scaled,
                 a.method == "awq" ? "AWQ" : "SmoothQuant");
  }
  if (hessians != nullptr) {
    std::fprintf(stderr,
                 "weft quantize: gptq: %d tensors from %zu Hessians (%d dead input columns); calibration %.2f s, "
                 "factoring %.2f s (within the quantisation's); the other tensors were rounded to nearest\n",
                 report->with_gptq, factors.size(), dead_columns, calib_seconds, factor_seconds);
  }
  return Status::Ok();
}

}  // namespace

void RegisterQuantizeCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "quantize",
      "Write a GGUF model with its weights quantised (llama.cpp's types and mixes; the same bytes as llama-quantize)");
  auto args = std::make_shared<QuantizeArgs>();
  cmd->add_option("IN", args->in,
                  "Input: a GGUF (F32/F16/BF16 weights; quantised ones with --allow-requantize), or a Hugging Face "
                  "model (llama, mistral, qwen2, qwen3; SentencePiece or byte-level BPE tokenizer): a directory with config.json, tokenizer.json and *.safetensors, or one "
                  ".safetensors file beside its config.json (converted as convert_hf_to_gguf.py does)")
      ->required();
  cmd->add_option("OUT", args->out, "Output GGUF (written to OUT.tmp, then renamed)")->required();
  cmd->add_option("--type", args->type, "Target: " + MixList() + " (Q3_K, Q4_K, Q5_K mean the _M mixes)")
      ->required();
  cmd->add_flag("--pure", args->pure, "Every quantised tensor gets the --type's base type (no mix rules)");
  cmd->add_flag("--leave-output", args->leave_output, "Keep output.weight in its source type");
  cmd->add_flag("--allow-requantize", args->allow_requantize, "Accept already-quantised input tensors");
  cmd->add_option("--output-tensor-type", args->output_type, "Type of output.weight");
  cmd->add_option("--token-embedding-type", args->token_embedding_type, "Type of token_embd.weight");
  cmd->add_option("--tensor-type", args->tensor_types,
                  "PATTERN=TYPE: tensors whose name matches the regular expression get TYPE (repeatable; the first "
                  "match wins)");
  cmd->add_option("--imatrix", args->imatrix,
                  "Importance matrix (weft imatrix or llama-imatrix output): the quantisers minimise the error "
                  "weighted by each column's activations, as llama-quantize --imatrix does (same bytes)");
  cmd->add_option("--method", args->method,
                  "rtn (default): round to nearest (with --imatrix: importance-weighted). gptq: GPTQ, each linear "
                  "layer's rounding errors compensated on its later input columns through the Hessian of its "
                  "inputs over --calib (the block types' scales are still fitted per block); slower, lower error "
                  "at 2-4 bits. awq: AWQ, each group of layers reading one input gets per-channel scales "
                  "s = mean|x|^alpha (or AutoAWQ's mean|x|^alpha / mean|w|^(1-alpha); the form and alpha searched "
                  "for the least output error on --calib), folded into the "
                  "preceding norm or linear so the float model is unchanged, then rounded to nearest");
  cmd->add_option("--calib", args->calib,
                  "--method gptq|awq, --smooth: calibration text (plain text; use a different part of your data "
                  "than what you evaluate on)");
  cmd->add_option("--calib-chunks", args->calib_chunks,
                  "--method gptq|awq, --smooth: chunks of the text to run (default: 64; -1: all)");
  cmd->add_option("--calib-ctx", args->calib_ctx, "--method gptq|awq, --smooth: tokens per chunk (default: 512)");
  cmd->add_option("--calib-skip", args->calib_skip,
                  "--method gptq|awq, --smooth: chunks to skip at the start of the text (default: 0)");
  cmd->add_option("--awq-alpha", args->awq_alpha,
                  "--method awq: use this alpha in [0, 1] for every group instead of searching 0, 0.05, .., 0.95 "
                  "(0: no scaling)");
  auto* smooth = cmd->add_option("--smooth", args->smooth_args,
                                 "SmoothQuant with migration strength ALPHA in (0, 1] (default 0.5 when given without "
                                 "a value): per input channel s = max|x|^alpha / max|w|^(1-alpha) from --calib, "
                                 "folded like AWQ's; eases the int8 activations of the block-typed matmuls (each "
                                 "block of 32 (legacy types) or 256 (K types) activations shares one scale "
                                 "max|x|/127). Write ALPHA, or put --smooth after IN OUT")
                     ->expected(0, 1)
                     ->type_name("ALPHA");
  cmd->add_option("--percdamp", args->percdamp,
                  "--method gptq: damping added to the Hessian's diagonal, as a fraction of its mean (default: 0.01)");
  cmd->add_option("--gptq-fit", args->gptq_fit,
                  "--method gptq: how each block's scales are fitted to the error-updated weights: weighted (by the "
                  "Hessian's diagonal, default) or rtn (the plain round-to-nearest fit)");
  cmd->add_flag("--act-order", args->act_order,
                "--method gptq: take each layer's columns by decreasing input energy (H's diagonal) instead of in "
                "order; every block's scales are then fitted up front to the original weights");
  cmd->add_option("-t,--threads", args->threads, "Threads (default: one per physical core)");
  cmd->footer(
      "GPTQ: weft quantize model-f16.gguf model-q3km.gguf --type Q3_K_M --method gptq --calib train.txt "
      "--calib-chunks 128\n"
      "  runs the calibration text through the unquantised model (IN must load in weft), keeps every blk.* weight's "
      "input Hessian 2 X^T X (one per distinct input: q/k/v share one; memory: the sum of width^2 floats over the "
      "layers), then quantises each block-typed weight column by column, spreading each column's rounding error over "
      "the columns not yet quantised. The Hessians all come from the unquantised model (no layer-by-layer "
      "re-run through quantised layers). output.weight, token_embd.weight and expert tensors are rounded to nearest.\n"
      "AWQ: weft quantize model-f16.gguf model-q4km.gguf --type Q4_K_M --method awq --calib train.txt\n"
      "  groups: attn_norm -> q/k/v, ffn_norm -> gate/up, up -> down, v -> o (grouped-query heads share the value "
      "head's scale); each group's alpha minimises sum ||(W - Q(W s)/s) X^T||^2 over the calibration inputs (from "
      "their Hessian). The written norm weights (and v, up rows) carry 1/s. Architectures: llama, qwen2, qwen3, "
      "gemma2, gemma3; MoE models (qwen2moe, qwen3moe, olmoe) get the attention groups only, experts rounded to "
      "nearest; others are refused.\n"
      "SmoothQuant: weft quantize model-f16.gguf model-q8.gguf --type Q8_0 --calib train.txt --smooth 0.5");
  cmd->callback([args, exit_code, smooth] {
    args->smooth_given = smooth->count() > 0;
    Status s = RunQuantize(*args);
    if (!s.ok()) {
      std::fprintf(stderr, "weft quantize: %s\n", s.message().c_str());
      *exit_code = 1;
    }
  });
}

}  // namespace weft::cli
