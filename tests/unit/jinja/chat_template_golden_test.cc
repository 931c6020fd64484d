// Every render in shared/golden/chat/index.json (Python Jinja2 as transformers
// configures it) must be reproduced byte for byte; cases marked `error` must fail
// with that error message.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/mapped_file.h"
#include "jinja/chat_template.h"

namespace weft {
namespace {

const std::string kGoldenDir = std::string(WEFT_SHARED_DIR) + "/golden/chat";
const std::string kTemplateDir = std::string(WEFT_SHARED_DIR) + "/models/chat-templates";

ChatTemplateOptions GoldenOptions() {
  ChatTemplateOptions o;
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 0;
  tm.tm_mday = 2;
  tm.tm_hour = 3;
  tm.tm_min = 4;
  tm.tm_sec = 5;
  tm.tm_wday = 5;  // Friday
  tm.tm_yday = 1;
  o.now = tm;
  return o;
}

TEST(ChatTemplateGolden, AllRendersMatch) {
  auto index_text = ReadFileToString(kGoldenDir + "/index.json");
  ASSERT_TRUE(index_text.ok()) << index_text.status().ToString();
  const auto index = nlohmann::ordered_json::parse(*index_text);
  const auto& cases = index.at("cases");
  const auto& ctx = index.at("context");
  int total = 0, passed = 0, error_cases = 0;
  for (auto t = index.at("renders").begin(); t != index.at("renders").end(); ++t) {
    const std::string name = t.key();
    auto source = ReadFileToString(kTemplateDir + "/" + name + ".jinja");
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    auto tmpl = ChatTemplate::Parse(*source, GoldenOptions());
    for (auto c = t.value().begin(); c != t.value().end(); ++c) {
      ++total;
      SCOPED_TRACE(name + " / " + c.key());
      if (!tmpl.ok()) {
        ADD_FAILURE() << "parse failed: " << tmpl.status().ToString();
        continue;
      }
      const auto& conv = cases.at(c.key());
      ChatTemplate::ChatInputs in;
      in.messages = conv.at("messages");
      in.add_generation_prompt = conv.at("add_generation_prompt").get<bool>();
      if (conv.contains("tools")) in.tools = conv.at("tools");
      in.bos_token = ctx.at("bos_token").get<std::string>();
      in.eos_token = ctx.at("eos_token").get<std::string>();
      auto out = tmpl->RenderChat(in);
      if (c.value().contains("error")) {
        ++error_cases;
        const std::string want = c.value().at("error").get<std::string>();
        if (out.ok()) {
          ADD_FAILURE() << "expected error '" << want << "', got output:\n" << *out;
        } else if (out.status().message().find(want) == std::string::npos) {
          ADD_FAILURE() << "expected error containing '" << want << "', got: " << out.status().ToString();
        } else {
          ++passed;
        }
        continue;
      }
      auto want = ReadFileToString(kGoldenDir + "/" + c.value().at("output").get<std::string>());
      ASSERT_TRUE(want.ok());
      if (!out.ok()) {
        ADD_FAILURE() << "render failed: " << out.status().ToString();
      } else if (*out != *want) {
        EXPECT_EQ(*out, *want);
      } else {
        ++passed;
      }
    }
  }
  std::printf("chat golden: %d/%d renders reproduced (%d of them expected errors)\n", passed, total, error_cases);
  EXPECT_EQ(passed, total);
  EXPECT_GT(total, 0);
}

}  // namespace
}  // namespace weft
