// How `weft bench` reports a mixture of experts over a stretch of work: the tokens routed
// per (layer, expert) and the expert cache's traffic between two MoeStats snapshots, as a
// line of text and as JSON fields.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "model/moe_stats.h"

namespace weft::cli {

// after - before (counters; gauges such as resident bytes are after's).
MoeStats MoeDelta(const MoeStats& before, const MoeStats& after);

// Each layer's load imbalance: its busiest expert's tokens over the mean (1 = balanced);
// [n_layer], 0 for a layer that routed nothing.
std::vector<double> LoadImbalance(const MoeStats& m);

// "experts: 8, top 2 | load imbalance (busiest / mean) 1.10 .. 1.74 over 16 layers |
//  cache 512.0 MiB of 2.06 GiB: 71.3% hits, 3.52 MB read per token" (cache part only with
// a cache). `tokens`: the tokens the stretch computed.
std::string MoeSummary(const MoeStats& delta, int64_t tokens);

// expert_load_imbalance [n_layer], expert_tokens [n_layer][n_expert], and with a cache
// expert_cache_{capacity,hits,misses,prefetches}, expert_bytes_read(_per_token).
void AddMoeJson(const MoeStats& delta, int64_t tokens, nlohmann::ordered_json* j);

}  // namespace weft::cli
