// Shared by the engine tests that run stories260K with KV windows and budgets
// (engine_kv_window_test, engine_kv_budget_test): the model, an engine on it, greedy
// requests, and the collection of a request's tokens, finish and cached prompt tokens.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "support/golden.h"
#include "support/test_model.h"

namespace weft::stories_engine {

using testing::TestModel;

inline const TestModel& Stories() {
  static const TestModel m = testing::LoadTestModel(testing::SharedDir() + "/models/stories260K/stories260K.gguf");
  return m;
}

// An engine on stories260K: 64 MiB of KV and a 512-token context unless `config` says, 2 threads.
inline std::unique_ptr<Engine> MakeEngine(EngineConfig config = {}) {
  if (config.kv_cache_bytes == 0) config.kv_cache_bytes = 64 << 20;
  if (config.max_model_len == 0) config.max_model_len = 512;
  config.threads = 2;
  auto e = Engine::Create(config, Stories().model, Stories().tokenizer);
  EXPECT_TRUE(e.ok()) << e.status().message();
  return e.ok() ? std::move(e).value() : nullptr;
}

// Greedy, max_tokens exactly (EOS ignored).
inline GenerationRequest GreedyRequest(std::vector<int32_t> prompt, int max_tokens) {
  GenerationRequest r;
  r.prompt_tokens = std::move(prompt);
  r.sampling.temperature = 0;
  r.sampling.max_tokens = max_tokens;
  r.sampling.ignore_eos = true;
  return r;
}

inline std::vector<int32_t> Prompt(const std::string& text) { return Stories().tokenizer->Encode(text); }

struct Out {
  std::vector<int32_t> tokens;
  RequestFinish finish = RequestFinish::kNone;
  int32_t cached = -1;  // prompt tokens served from the prefix cache
};

inline Out Collect(RequestStream& s) {
  Out o;
  while (auto piece = s.Next(std::chrono::seconds(120))) {
    o.tokens.insert(o.tokens.end(), piece->token_ids.begin(), piece->token_ids.end());
    o.cached = piece->num_cached_prompt_tokens;
    if (piece->finish != RequestFinish::kNone) o.finish = piece->finish;
  }
  return o;
}

inline Out RunReq(Engine& e, GenerationRequest r) {
  auto s = e.Submit(std::move(r));
  EXPECT_TRUE(s.ok()) << s.status().message();
  return s.ok() ? Collect(**s) : Out{};
}

// The stats snapshot follows the step that finished the last request: wait for it.
inline double KvUsageWhenIdle(Engine& e) {
  for (int i = 0; i < 500 && (e.Stats().num_running > 0 || e.Stats().kv_usage > 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return e.Stats().kv_usage;
}

}  // namespace weft::stories_engine
