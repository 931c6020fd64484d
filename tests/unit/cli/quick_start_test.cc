// The quick start from a fresh clone (README "Quick start"): with no ../shared models, a
// machine that reaches the hub gets a small instruct model with a chat template from
// `make chat` / `make run` (scripts/default-model.sh picks an hf: spec, weft downloads
// it into ~/.cache/weft). Here the hub is FakeHub on 127.0.0.1 serving a stand-in for
// that file (stories260K with a chat template added), never the internet.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/fake_hub.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

const std::string kSource = std::string(WEFT_TESTS_DIR) + "/..";

struct Ran {
  int status = -1;
  std::string out;
};

// Runs `command` with /bin/sh; stdout (and stderr when `merge`) captured.
Ran Shell(const std::string& command) {
  Ran r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  r.status = pclose(p);
  return r;
}

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

class QuickStartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "weft-quick-start-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "clone");  // a checkout with no ../shared beside it
    fs::create_directories(dir_ / "home");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // The environment of a user on a fresh machine whose hub is `hub`.
  std::string Env(const testing::FakeHub& hub) const {
    return "cd " + Quote((dir_ / "clone").string()) + " && env -u WEFT_DEFAULT_MODEL -u WEFT_MODELS -u XDG_CACHE_HOME" +
           " -u WEFT_HF_ENDPOINT -u HF_TOKEN HOME=" + Quote((dir_ / "home").string()) + " HF_ENDPOINT=" + hub.endpoint();
  }
  fs::path dir_;
};

TEST_F(QuickStartTest, MakeChatModelDownloadsAnInstructModelWithATemplateAndChats) {
  // The stand-in for SmolLM2-135M-Instruct-Q8_0.gguf: a tiny model with a chat template.
  const fs::path model = dir_ / "stand-in.gguf";
  const Ran made = Shell("python3 " + Quote(kSource + "/tests/tools/gguf_add_kv.py") + " " +
                         Quote(std::string(WEFT_SHARED_DIR) + "/models/stories260K/stories260K.gguf") + " " +
                         Quote(model.string()) + " tokenizer.chat_template " +
                         Quote(std::string(WEFT_SHARED_DIR) +
                               "/models/chat-templates/microsoft-Phi-3.5-mini-instruct.jinja"));
  ASSERT_EQ(made.status, 0) << made.out;
  testing::FakeHub hub;
  hub.repo = "bartowski/SmolLM2-135M-Instruct-GGUF";
  hub.files["SmolLM2-135M-Instruct-Q8_0.gguf"] = testing::FakeHub::File(Slurp(model));

  // What `make run` and `make chat` use when the hub answers.
  const Ran pick = Shell(Env(hub) + " bash " + Quote(kSource + "/scripts/default-model.sh"));
  ASSERT_EQ(pick.status, 0) << pick.out;
  const std::string spec = pick.out.substr(0, pick.out.find('\n'));
  ASSERT_EQ(spec, "hf:bartowski/SmolLM2-135M-Instruct-GGUF:SmolLM2-135M-Instruct-Q8_0.gguf");

  // `make chat` runs `weft chat MODEL`: the download, then a streamed answer.
  const Ran chat = Shell("printf 'Hello\\n' | " + Env(hub) + " " + Quote(WEFT_BINARY) + " chat " + spec +
                         " --temp 0 -n 8");
  ASSERT_EQ(chat.status, 0) << chat.out;
  EXPECT_EQ(chat.out.find("no chat template"), std::string::npos) << chat.out;
  EXPECT_TRUE(fs::exists(dir_ / "home/.cache/weft/hf/bartowski/SmolLM2-135M-Instruct-GGUF/main/"
                                "SmolLM2-135M-Instruct-Q8_0.gguf"))
      << chat.out;
  // A second run is served from the cache, with the hub gone.
  const size_t before = hub.file_requests().size();
  const Ran again = Shell("printf 'Hello\\n' | " + Env(hub) + " " + Quote(WEFT_BINARY) + " chat " + spec +
                          " --temp 0 -n 8");
  ASSERT_EQ(again.status, 0) << again.out;
  EXPECT_EQ(hub.file_requests().size(), before);
}

TEST_F(QuickStartTest, MakeChatUsesTheTemplateMakeRunServesWith) {
  // Dry runs (make -n executes nothing): for the local fallback model, chat and serve get
  // the same --chat-template.
  const Ran run = Shell("make -n -C " + Quote(kSource) + " run MODEL=tinyllama-v0");
  const Ran chat = Shell("make -n -C " + Quote(kSource) + " chat MODEL=tinyllama-v0");
  ASSERT_EQ(run.status, 0) << run.out;
  ASSERT_EQ(chat.status, 0) << chat.out;
  auto flag = [](const std::string& text, const std::string& command) {
    const size_t at = text.find(command);
    if (at == std::string::npos) return std::string("<no ") + command + ">";
    const std::string line = text.substr(at, text.find('\n', at) - at);
    const size_t t = line.find("--chat-template ");
    return t == std::string::npos ? std::string("<none>") : line.substr(t);
  };
  const std::string served = flag(run.out, "bin/weft serve");
  EXPECT_NE(served, "<none>") << run.out;
  EXPECT_EQ(flag(chat.out, "bin/weft chat"), served.substr(0, served.find(' ', 16))) << chat.out;
}

}  // namespace
}  // namespace weft
