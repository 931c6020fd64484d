#include "server/errors.h"

#include <gtest/gtest.h>

#include "server/metrics.h"

namespace weft::server {
namespace {

TEST(ServerErrors, StatusToHttp) {
  EXPECT_EQ(FromStatus(InvalidArgumentError("x")).http_status, 400);
  EXPECT_EQ(FromStatus(OutOfRangeError("context")).http_status, 400);
  EXPECT_EQ(FromStatus(NotFoundError("m")).http_status, 404);
  EXPECT_EQ(FromStatus(ResourceExhaustedError("q")).http_status, 429);
  EXPECT_EQ(FromStatus(UnavailableError("down")).http_status, 503);
  EXPECT_EQ(FromStatus(InternalError("bug")).http_status, 500);
}

TEST(ServerErrors, TheParamIsTheStatusFieldNotTheMessage) {
  const ApiError e = FromStatus(OutOfRangeError("temperature is not the field here").WithField("prompt"));
  EXPECT_EQ(e.param, "prompt");
  EXPECT_EQ(e.message, "temperature is not the field here");
  EXPECT_EQ(FromStatus(InvalidArgumentError("top_p must be in (0, 1]")).param, "");
}

TEST(ServerErrors, OpenAIBody) {
  ApiError e = BadRequest("'n' must be an integer", "n");
  const auto j = nlohmann::json::parse(e.Body());
  EXPECT_EQ(j["error"]["message"], "'n' must be an integer");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "n");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_EQ((ApiError{401, "k", "", "invalid_api_key"}.type()), "authentication_error");
  EXPECT_EQ((ApiError{429, "busy", "", ""}.type()), "rate_limit_error");
}

TEST(ServerErrors, DumpNeverThrowsOnBadUtf8) {
  nlohmann::ordered_json j;
  j["text"] = std::string("a\xff\xfe" "b");
  EXPECT_NO_THROW({ (void)DumpJson(j); });
}

TEST(ServerMetrics, RendersCountersAndHistograms) {
  Metrics m;
  RequestRecord r;
  r.prompt_tokens = 5;
  r.generated_tokens = 7;
  r.ttft_s = 0.03;
  r.tpot_s = 0.002;
  r.e2e_s = 0.2;
  m.Record(r);
  RequestRecord bad;
  bad.http_status = 400;
  m.Record(bad);
  EngineStats s;
  s.num_running = 2;
  s.prefix_hit_tokens = 3;
  const std::string text = m.Render(s, 1, "m\"x");
  EXPECT_NE(text.find("vllm:num_requests_running{model_name=\"m\\\"x\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("vllm:prompt_tokens_total{model_name=\"m\\\"x\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("vllm:generation_tokens_total{model_name=\"m\\\"x\"} 7\n"), std::string::npos);
  EXPECT_NE(text.find("vllm:prefix_cache_hits_total{model_name=\"m\\\"x\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("weft_http_requests_total{code=\"400\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("vllm:time_to_first_token_seconds_bucket{model_name=\"m\\\"x\",le=\"0.04\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("vllm:time_to_first_token_seconds_bucket{model_name=\"m\\\"x\",le=\"0.02\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("vllm:time_to_first_token_seconds_count{model_name=\"m\\\"x\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("vllm:e2e_request_latency_seconds_bucket{model_name=\"m\\\"x\",le=\"+Inf\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace weft::server
