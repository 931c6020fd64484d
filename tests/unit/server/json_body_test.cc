#include "server/json_body.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace weft::server {
namespace {

using Json = nlohmann::ordered_json;

std::string ErrorOf(const std::string& text, const JsonLimits& limits = {}) {
  Json out;
  auto e = ParseJsonLimited(text, limits, &out);
  return e ? e->message : "";
}

TEST(JsonBody, ParsesLikeNlohmannKeepingOrder) {
  const std::string text = R"({"z":1,"a":[true,null,2.5,"s",{"k":-3}],"m":{"y":18446744073709551615}})";
  Json out;
  ASSERT_FALSE(ParseJsonLimited(text, {}, &out));
  EXPECT_EQ(out, Json::parse(text));
  EXPECT_EQ(out.begin().key(), "z");
  EXPECT_EQ(out.dump(), Json::parse(text).dump());
}

TEST(JsonBody, DuplicateKeyLastWinsInFirstPlace) {
  Json out;
  ASSERT_FALSE(ParseJsonLimited(R"({"a":1,"b":2,"a":3})", {}, &out));
  EXPECT_EQ(out.dump(), R"({"a":3,"b":2})");
}

TEST(JsonBody, InvalidJsonIs400) {
  EXPECT_NE(ErrorOf("{").find("not valid JSON"), std::string::npos);
  EXPECT_NE(ErrorOf("[1,]").find("not valid JSON"), std::string::npos);
  EXPECT_NE(ErrorOf("{} x").find("not valid JSON"), std::string::npos);
  EXPECT_NE(ErrorOf("").find("not valid JSON"), std::string::npos);
}

TEST(JsonBody, Limits) {
  JsonLimits l;
  l.max_depth = 3;
  EXPECT_EQ(ErrorOf("[[[1]]]", l), "");
  EXPECT_NE(ErrorOf("[[[[1]]]]", l).find("nested too deeply"), std::string::npos);
  l = {};
  l.max_object_keys = 2;
  EXPECT_EQ(ErrorOf(R"({"a":1,"b":2})", l), "");
  EXPECT_NE(ErrorOf(R"({"a":1,"b":2,"c":3})", l).find("more than 2 keys"), std::string::npos);
  l = {};
  l.max_key_bytes = 3;
  EXPECT_NE(ErrorOf(R"({"abcd":1})", l).find("key"), std::string::npos);
  l = {};
  l.max_string_bytes = 3;
  EXPECT_NE(ErrorOf(R"(["abcd"])", l).find("string"), std::string::npos);
  l = {};
  l.max_values = 3;
  EXPECT_EQ(ErrorOf("[1,2]", l), "");
  EXPECT_NE(ErrorOf("[1,2,3]", l).find("values"), std::string::npos);
  EXPECT_EQ(ErrorOf(std::string(100000, '[')).find("nested too deeply") != std::string::npos, true);
}

// 200k keys in one object: nlohmann's ordered_json parse is quadratic here (minutes);
// the limited parser is linear. A generous bound still tells the two apart.
TEST(JsonBody, ManyKeysInLinearTime) {
  std::string text = "{";
  for (int i = 0; i < 200000; ++i) text += (i ? ",\"" : "\"") + std::to_string(i) + "\":1";
  text += "}";
  Json out;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_FALSE(ParseJsonLimited(text, {}, &out));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(out.size(), 200000u);
  EXPECT_EQ(out["199999"], 1);
  EXPECT_LT(secs, 5.0);
}

}  // namespace
}  // namespace weft::server
