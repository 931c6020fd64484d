// weft bench serve's parsers: SSE framing, OpenAI stream events, JSONL workloads, --slo
// and sweep lists.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bench_serve/arrivals.h"
#include "bench_serve/jsonl_workload.h"
#include "bench_serve/metrics.h"
#include "bench_serve/openai_stream.h"
#include "bench_serve/sse_parser.h"

namespace weft::bench_serve {
namespace {

std::vector<std::string> FeedAll(SseParser& p, const std::vector<std::string>& pieces) {
  std::vector<std::string> out;
  for (const auto& piece : pieces) {
    auto ev = p.Feed(piece);
    EXPECT_TRUE(ev.ok()) << ev.status().message();
    if (ev.ok()) out.insert(out.end(), ev->begin(), ev->end());
  }
  return out;
}

TEST(SseParser, EventsSplitAnywhere) {
  const std::string body = "data: {\"a\":1}\n\n: a comment\n\ndata: {\"b\":2}\r\n\r\nevent: x\ndata: [DONE]\n\n";
  const std::vector<std::string> want = {"{\"a\":1}", "{\"b\":2}", "[DONE]"};
  // Whole, byte by byte, and at every split point: the same events.
  SseParser whole;
  EXPECT_EQ(FeedAll(whole, {body}), want);
  std::vector<std::string> bytes;
  for (char c : body) bytes.emplace_back(1, c);
  SseParser one;
  EXPECT_EQ(FeedAll(one, bytes), want);
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    SseParser p;
    EXPECT_EQ(FeedAll(p, {body.substr(0, cut), body.substr(cut)}), want) << cut;
  }
}

TEST(SseParser, MultiLineDataAndCrLineEnds) {
  SseParser p;
  EXPECT_EQ(FeedAll(p, {"data: one\rdata:two\r\rdata\n\n"}), (std::vector<std::string>{"one\ntwo", ""}));
}

TEST(SseParser, UnterminatedEventAtEndAndLineBound) {
  SseParser p;
  EXPECT_TRUE(FeedAll(p, {"data: tail"}).empty());
  EXPECT_EQ(p.Finish(), std::vector<std::string>{"tail"});
  SseParser small(8);
  EXPECT_FALSE(small.Feed("data: 0123456789").ok());
}

TEST(StreamEvent, CompletionChatUsageDoneError) {
  auto c = ParseStreamEvent(R"({"choices":[{"index":0,"text":" the","finish_reason":null}]})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->text, " the");
  EXPECT_EQ(c->finish_reason, "");
  auto role = ParseStreamEvent(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})");
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(role->text, "");
  auto chat = ParseStreamEvent(R"({"choices":[{"delta":{"content":"hi"},"finish_reason":"length"}],"usage":null})");
  ASSERT_TRUE(chat.ok());
  EXPECT_EQ(chat->text, "hi");
  EXPECT_EQ(chat->finish_reason, "length");
  EXPECT_FALSE(chat->has_usage);
  auto usage = ParseStreamEvent(R"({"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":12,"total_tokens":17}})");
  ASSERT_TRUE(usage.ok());
  EXPECT_TRUE(usage->has_usage);
  EXPECT_EQ(usage->prompt_tokens, 5);
  EXPECT_EQ(usage->completion_tokens, 12);
  auto done = ParseStreamEvent("[DONE]");
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->done);
  auto err = ParseStreamEvent(R"({"error":{"message":"context full","type":"x"}})");
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->error, "context full");
  EXPECT_FALSE(ParseStreamEvent("{not json").ok());
  EXPECT_FALSE(ParseStreamEvent("[1,2]").ok());
}

TEST(JsonlWorkload, PromptAndMessagesForms) {
  const std::string text =
      "{\"prompt\": \"Once upon a time\", \"max_tokens\": 12}\n"
      "\n"
      "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"}]}\r\n";
  auto w = ParseJsonlWorkload(text, "p.jsonl", 64);
  ASSERT_TRUE(w.ok()) << w.status().message();
  ASSERT_EQ(w->size(), 2u);
  EXPECT_EQ((*w)[0].prompt, "Once upon a time");
  EXPECT_EQ((*w)[0].max_tokens, 12);
  EXPECT_TRUE((*w)[0].messages.is_null());
  EXPECT_EQ((*w)[1].messages.size(), 2u);
  EXPECT_EQ((*w)[1].max_tokens, 64);
  const auto body = RequestBody((*w)[1], "m", /*chat=*/true, /*ignore_eos=*/true, nlohmann::json{{"temperature", 0}});
  EXPECT_EQ(body["messages"], (*w)[1].messages);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["ignore_eos"], true);
  EXPECT_EQ(body["temperature"], 0);
}

TEST(JsonlWorkload, BadLinesNameTheLine) {
  struct Case {
    const char *text, *want;
  } cases[] = {
      {"{\"prompt\": \"a\"}\n{oops\n", "p.jsonl:2: not valid JSON"},
      {"[1]\n", "p.jsonl:1: each line must be a JSON object"},
      {"{\"max_tokens\": 3}\n", "p.jsonl:1: needs \"prompt\""},
      {"{\"prompt\": \"a\", \"messages\": []}\n", "p.jsonl:1: needs \"prompt\""},
      {"{\"prompt\": 7}\n", "p.jsonl:1: \"prompt\" must be a string"},
      {"{\"messages\": []}\n", "p.jsonl:1: \"messages\" must be a non-empty array"},
      {"{\"messages\": [{\"content\": \"x\"}]}\n", "p.jsonl:1: every message needs"},
      {"{\"prompt\": \"a\", \"max_tokens\": 0}\n", "p.jsonl:1: \"max_tokens\" must be a positive integer"},
      {"\n\n", "p.jsonl: no requests"},
  };
  for (const Case& c : cases) {
    auto w = ParseJsonlWorkload(c.text, "p.jsonl", 16);
    ASSERT_FALSE(w.ok()) << c.text;
    EXPECT_EQ(w.status().message().rfind(c.want, 0), 0u) << w.status().message();
  }
  EXPECT_FALSE(LoadJsonlWorkload("/nonexistent/p.jsonl", 16).ok());
}

TEST(Slo, ParsesUnitsAndRejectsBadItems) {
  auto s = ParseSlo("ttft=1s,tpot=100ms,itl=250,e2e=1500us");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_DOUBLE_EQ(*s->ttft_ms, 1000);
  EXPECT_DOUBLE_EQ(*s->tpot_ms, 100);
  EXPECT_DOUBLE_EQ(*s->itl_ms, 250);
  EXPECT_DOUBLE_EQ(*s->e2e_ms, 1.5);
  EXPECT_EQ(SloString(*s), "ttft<=1000ms, tpot<=100ms, itl<=250ms, e2e<=1.5ms");
  for (const char* bad : {"", "ttft", "ttft=", "ttft=1h", "ttft=-1s", "speed=1s", "ttft=1s,", "ttft=abc"}) {
    EXPECT_FALSE(ParseSlo(bad).ok()) << bad;
  }
  EXPECT_NE(ParseSlo("speed=1s").status().message().find("unknown metric 'speed'"), std::string::npos);
}

TEST(Sweep, Lists) {
  auto c = ParseSweep("--concurrency", "1,4,16,64", false, true);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, (std::vector<double>{1, 4, 16, 64}));
  auto r = ParseSweep("--request-rate", "0.5,2,inf", true, false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0], 0.5);
  EXPECT_EQ((*r)[2], kInfiniteRate);
  for (const char* bad : {"", "1,,2", "0", "-1", "1.5", "inf", "x"}) {
    EXPECT_FALSE(ParseSweep("--concurrency", bad, false, true).ok()) << bad;
  }
  EXPECT_NE(ParseSweep("--concurrency", "4,x", false, true).status().message().find("'x'"), std::string::npos);
}

}  // namespace
}  // namespace weft::bench_serve
