// --kv-budget N --kv-policy h2o|window|sinks for the engine commands (run, serve, bench
// --batch): a fixed KV budget per sequence (kv/kv_budget.h), every request's unless it
// sets its own (server fields kv_budget / kv_policy). The sink tokens of h2o and sinks are
// --kv-sinks (cli/model_flags.h). `weft perplexity --stream` has flags of the same names
// of its own (cli/perplexity_command.cc).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <string>

#include "cli/model_flags.h"
#include "kv/kv_budget.h"
#include "weft/status.h"

namespace CLI {
class App;
}

namespace weft::cli {

struct KvBudgetFlags {
  int kv_budget = 0;      // --kv-budget: KV positions a sequence's attention sees at most; 0 = none
  std::string kv_policy;  // --kv-policy: "" = h2o when --kv-budget is given
};

void AddKvBudgetFlags(CLI::App* cmd, KvBudgetFlags* flags);

// The flags as a budget (sinks: --kv-sinks, for h2o and sinks). InvalidArgument naming the
// flag: a negative budget, an unknown policy, --kv-policy without --kv-budget, --kv-budget
// with --kv-window, and ValidateKvBudget's checks at steps of 1 (block size 16; the fit in
// the context is checked by the engine, which knows it).
StatusOr<KvBudget> KvBudgetFrom(const KvBudgetFlags& flags, const ModelFlags& model_flags);

// The engine's KV policy from both flag sets: a budget (KvBudgetFrom), else --kv-sinks /
// --kv-window (KvWindowFrom); the other one is left off.
Status KvEvictionFrom(const KvBudgetFlags& flags, const ModelFlags& model_flags, KvWindow* window, KvBudget* budget);

}  // namespace weft::cli
