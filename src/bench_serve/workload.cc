#include "bench_serve/workload.h"

#include <algorithm>
#include <iterator>
#include <cmath>
#include <random>

namespace weft::bench_serve {
namespace {

// Common English words, each a single token (with its leading space) in GPT-2 and Llama.
constexpr const char* kWords[] = {
    "the",    "of",     "and",   "to",     "in",     "is",    "you",   "that",  "it",    "he",    "was",   "for",
    "on",     "are",    "as",    "with",   "his",    "they",  "at",    "be",    "this",  "have",  "from",  "or",
    "one",    "had",    "by",    "word",   "but",    "not",   "what",  "all",   "were",  "we",    "when",  "your",
    "can",    "said",   "there", "use",    "an",     "each",  "which", "she",   "do",    "how",   "their", "if",
    "will",   "up",     "other", "about",  "out",    "many",  "then",  "them",  "these", "so",    "some",  "her",
    "would",  "make",   "like",  "him",    "into",   "time",  "has",   "look",  "two",   "more",  "write", "go",
    "see",    "number", "no",    "way",    "could",  "people", "my",   "than",  "first", "water", "been",  "call",
    "who",    "oil",    "its",   "now",    "find",   "long",  "down",  "day",   "did",   "get",   "come",  "made",
    "may",    "part",   "over",  "new",    "sound",  "take",  "only",  "little", "work", "know",  "place", "year",
    "live",   "me",     "back",  "give",   "most",   "very",  "after", "thing", "our",   "just",  "name",  "good",
    "man",    "think",  "say",   "great",  "where",  "help",  "through", "much", "before", "line", "right", "too",
    "mean",   "old",    "any",   "same",   "tell",   "boy",   "follow", "came", "want",  "show",  "also",  "around",
    "form",   "three",  "small", "set",    "put",    "end",   "does",  "another", "well", "large", "must",  "big",
    "even",   "such",   "because", "turn", "here",   "why",   "ask",   "went",  "men",   "read",  "need",  "land"};

std::string Words(std::mt19937_64& rng, int n) {
  std::uniform_int_distribution<size_t> pick(0, std::size(kWords) - 1);
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i > 0) s += ' ';
    s += kWords[pick(rng)];
  }
  return s;
}

}  // namespace

StatusOr<WorkloadKind> ParseWorkloadKind(const std::string& name) {
  if (name == "fixed") return WorkloadKind::kFixed;
  if (name == "lognormal") return WorkloadKind::kLognormal;
  if (name == "shared-prefix") return WorkloadKind::kSharedPrefix;
  return InvalidArgumentError("unknown workload '" + name + "': use fixed, lognormal or shared-prefix");
}

std::vector<RequestSpec> SyntheticWorkload(const WorkloadOptions& o) {
  std::mt19937_64 prefix_rng(o.seed);
  std::mt19937_64 rng(o.seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(o.pass + 1));
  auto length = [&](int mean) {
    if (o.kind != WorkloadKind::kLognormal) return mean;
    const double sigma = 0.6;
    std::lognormal_distribution<double> d(std::log(static_cast<double>(mean)) - sigma * sigma / 2, sigma);
    return std::max(1, static_cast<int>(std::lround(d(rng))));
  };
  const std::string system = o.prefix_len > 0 ? Words(prefix_rng, o.prefix_len) : std::string();
  std::vector<RequestSpec> out;
  out.reserve(static_cast<size_t>(std::max(0, o.num_requests)));
  for (int i = 0; i < o.num_requests; ++i) {
    RequestSpec r;
    r.system = system;
    r.prompt_words = length(o.prompt_len);
    r.prompt = Words(rng, r.prompt_words);
    r.max_tokens = length(o.output_len);
    out.push_back(std::move(r));
  }
  return out;
}

nlohmann::json RequestBody(const RequestSpec& spec, const std::string& model, bool chat, bool ignore_eos,
                           const nlohmann::json& extra) {
  nlohmann::json body;
  body["model"] = model;
  if (chat) {
    if (!spec.messages.is_null()) {
      body["messages"] = spec.messages;
    } else {
      nlohmann::json msgs = nlohmann::json::array();
      if (!spec.system.empty()) msgs.push_back({{"role", "system"}, {"content", spec.system}});
      msgs.push_back({{"role", "user"}, {"content", spec.prompt}});
      body["messages"] = std::move(msgs);
    }
  } else {
    body["prompt"] = spec.system.empty() ? spec.prompt : spec.system + "\n\n" + spec.prompt;
  }
  body["max_tokens"] = spec.max_tokens;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  if (ignore_eos) body["ignore_eos"] = true;
  if (extra.is_object()) {
    for (const auto& [k, v] : extra.items()) body[k] = v;
  }
  return body;
}

}  // namespace weft::bench_serve
