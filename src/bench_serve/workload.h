// The requests a benchmark sends, and the seeded synthetic workloads that make them.
//
// The server tokenizes text, so a synthetic prompt of "about N tokens" is N words drawn
// from a fixed list of common English words, each of which is one token (with its
// leading space) in GPT-2 and Llama vocabularies; small vocabularies split them, so the
// real counts are the ones the server reports (usage), and reports use those.
//   fixed:         every prompt prompt_len words, every output output_len tokens;
//   lognormal:     lengths drawn from lognormal distributions with those means (sigma
//                  0.6, a chat-like spread, as `weft bench --dist lognormal`);
//   shared-prefix: fixed lengths after a common system prompt of prefix_len words, to
//                  exercise prefix caching.
// prefix_len also works with fixed and lognormal. Same options -> the same requests.
// `pass` changes the prompts but not the shared prefix, so that the passes of a sweep do
// not find each other's prompts in the server's prefix cache.
// Thread-safety: pure functions; a RequestSpec is a value.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "weft/status.h"

namespace weft::bench_serve {

struct RequestSpec {
  std::string system;       // a shared system prompt ("" = none): prepended to `prompt`, or a system message
  std::string prompt;       // the text after it (ignored when `messages` is set)
  nlohmann::json messages;  // a chat conversation as given in a JSONL file (null = none)
  int max_tokens = 0;
  int prompt_words = 0;  // the synthetic prompt's length in words (0 for file prompts)
};

enum class WorkloadKind { kFixed, kLognormal, kSharedPrefix };

struct WorkloadOptions {
  WorkloadKind kind = WorkloadKind::kFixed;
  int num_requests = 64;
  int prompt_len = 128;  // words (~ tokens) after the prefix; the mean for lognormal
  int output_len = 64;   // max_tokens; the mean for lognormal
  int prefix_len = 0;    // words of a system prompt common to every request
  uint64_t seed = 1;
  int pass = 0;
};

// "fixed" | "lognormal" | "shared-prefix" -> the kind; an error names the choices.
StatusOr<WorkloadKind> ParseWorkloadKind(const std::string& name);

std::vector<RequestSpec> SyntheticWorkload(const WorkloadOptions& options);

// The body of one request to /v1/completions (chat = false) or /v1/chat/completions:
// model, prompt or messages, max_tokens, stream with usage, and ignore_eos when asked;
// `extra` (an object or null) is merged over it last.
nlohmann::json RequestBody(const RequestSpec& spec, const std::string& model, bool chat, bool ignore_eos,
                           const nlohmann::json& extra);

}  // namespace weft::bench_serve
