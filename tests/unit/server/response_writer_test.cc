// ResponseWriter: outputs -> the whole body or SSE events; echo puts the prompt first,
// in the whole body and in the first streamed chunk of every choice.
#include "server/response_writer.h"

#include <gtest/gtest.h>

namespace weft::server {
namespace {

using Json = nlohmann::ordered_json;

RequestOutput Piece(int32_t sample, std::string text, RequestFinish finish = RequestFinish::kNone) {
  RequestOutput o;
  o.sample_index = sample;
  o.text_delta = std::move(text);
  o.token_ids = {1};
  o.finish = finish;
  return o;
}

Json EventJson(const std::string& event) {
  EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
  return Json::parse(event.substr(6));
}

ResponseContext Completion() {
  ResponseContext ctx;
  ctx.id = "cmpl-1";
  ctx.model = "m";
  return ctx;
}

TEST(ResponseWriter, StreamedEchoSendsThePromptInTheFirstChunkOfEachChoice) {
  ResponseWriter w(Completion(), /*n=*/2, {"Once upon", "Tom"}, 7, /*include_usage=*/true);
  std::string text[4];
  auto add = [&](size_t prompt, const RequestOutput& o) {
    const std::string ev = w.AddStreamed(prompt, o);
    if (ev.empty()) return;
    const Json j = EventJson(ev);
    text[j["choices"][0]["index"].get<size_t>()] += j["choices"][0]["text"].get<std::string>();
  };
  add(0, Piece(1, " a"));
  add(0, Piece(0, ""));  // half a character: the first chunk still carries the prompt
  add(0, Piece(0, " time", RequestFinish::kLength));
  add(0, Piece(1, " day", RequestFinish::kStop));
  add(1, Piece(0, " ran", RequestFinish::kLength));
  add(1, Piece(1, "", RequestFinish::kLength));
  EXPECT_EQ(text[0], "Once upon time");
  EXPECT_EQ(text[1], "Once upon a day");
  EXPECT_EQ(text[2], "Tom ran");
  EXPECT_EQ(text[3], "Tom");
  EXPECT_EQ(w.usage().completion_tokens, 6);
  const std::string tail = w.StreamTail();
  EXPECT_NE(tail.find("\"prompt_tokens\":7"), std::string::npos) << tail;
  EXPECT_EQ(tail.substr(tail.size() - std::string(kSseDone).size()), kSseDone);
}

TEST(ResponseWriter, WholeBodyWithAndWithoutEcho) {
  ResponseWriter echo(Completion(), 1, {"Hi"}, 1, false);
  echo.Add(0, Piece(0, " there"));
  echo.Add(0, Piece(0, "!", RequestFinish::kStop));
  const Json j = echo.Full();
  EXPECT_EQ(j["choices"][0]["text"], "Hi there!");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["completion_tokens"], 2);
  ResponseWriter plain(Completion(), 1, {""}, 1, false);
  EXPECT_EQ(EventJson(plain.AddStreamed(0, Piece(0, "a")))["choices"][0]["text"], "a");
  EXPECT_EQ(plain.AddStreamed(0, Piece(0, "")), "");  // nothing new to say
  EXPECT_EQ(plain.StreamTail(), kSseDone);
}

}  // namespace
}  // namespace weft::server
