#include "cli/kv_budget_flags.h"

#include <CLI/CLI.hpp>

#include <fmt/format.h>

namespace weft::cli {

void AddKvBudgetFlags(CLI::App* cmd, KvBudgetFlags* flags) {
  cmd->add_option("--kv-budget", flags->kv_budget,
                  "Fixed KV budget per sequence: no step's attention sees more than N KV positions; the sequence "
                  "evicts as it generates (whole blocks of 16 go back to the pool, positions are reassigned within "
                  "the cache), so it runs at constant memory past the model's context. Policy by --kv-policy. "
                  "No prefix caching, n > 1 or speculative decoding for such sequences; not with --kv-window. "
                  "Requests may set their own (server fields kv_budget / kv_policy) (default: 0 = keep everything)");
  cmd->add_option("--kv-policy", flags->kv_policy,
                  "With --kv-budget N: h2o (heavy hitters, Zhang et al. 2023: the --kv-sinks tokens if any, the most "
                  "recent half of what is left, and the blocks with the most accumulated attention; needs N >= sink "
                  "tokens + 31), window (a rolling window of N) or sinks (--kv-sinks + a window, the rest of N) "
                  "(default: h2o)");
}

StatusOr<KvBudget> KvBudgetFrom(const KvBudgetFlags& flags, const ModelFlags& model_flags) {
  KvBudget b;
  b.budget = flags.kv_budget;
  if (!flags.kv_policy.empty()) {
    const std::optional<KvPolicy> p = KvPolicyFromName(flags.kv_policy);
    if (!p) {
      return InvalidArgumentError(fmt::format("--kv-policy {}: not one of h2o, window, sinks", flags.kv_policy))
          .WithField("--kv-policy");
    }
    b.policy = *p;
    if (flags.kv_budget == 0) {
      return InvalidArgumentError("--kv-policy needs --kv-budget N (the KV positions each sequence keeps)")
          .WithField("--kv-policy");
    }
  }
  if (flags.kv_budget != 0 && model_flags.kv_window != 0) {
    return InvalidArgumentError("--kv-budget with --kv-window: pick one (--kv-policy window is a window sized to the "
                                "budget)")
        .WithField("--kv-budget");
  }
  if (flags.kv_budget != 0) b.sinks = model_flags.kv_sinks;
  // The block size and context are the engine's; 16 and a large bound check the rest here.
  WEFT_RETURN_IF_ERROR(ValidateKvBudget(b, 16, 1, 1 << 30, "--kv-budget", "--kv-sinks"));
  return b;
}

Status KvEvictionFrom(const KvBudgetFlags& flags, const ModelFlags& model_flags, KvWindow* window, KvBudget* budget) {
  WEFT_ASSIGN_OR_RETURN(*budget, KvBudgetFrom(flags, model_flags));
  *window = KvWindow{};
  if (!budget->enabled()) {
    WEFT_ASSIGN_OR_RETURN(*window, KvWindowFrom(model_flags));
  }
  return Status::Ok();
}

}  // namespace weft::cli
