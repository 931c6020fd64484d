// DownloadFromHub against a fake hub on 127.0.0.1 (cpp-httplib), never the internet.
#include "loader/hf_download.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/sha256.h"
#include "loader/model_source.h"
#include "support/fake_hub.h"

namespace weft {
namespace {

namespace fs = std::filesystem;
using testing::FakeHub;
using ::testing::HasSubstr;
using ::testing::Not;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "weft-hf-download-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? fs::path(tmpl) : fs::path();
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

// Bytes that differ at every offset, so a misplaced resume shows.
std::string MakeContent(size_t size, int seed) {
  std::string s(size, '\0');
  uint32_t x = 2463534242u + static_cast<uint32_t>(seed);
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return s;
}

class HfDownloadTest : public ::testing::Test {
 protected:
  HfDownloadTest() {
    options_.endpoint = hub_.endpoint();
    options_.cache_dir = (tmp_.path() / "cache").string();
    options_.show_progress = false;
    options_.retry_delay_ms = 10;
  }
  fs::path RepoDir() const { return tmp_.path() / "cache" / "hf" / "owner" / "repo" / "main"; }
  static HubRequest Repo(std::optional<std::string> file = std::nullopt) {
    HubRequest r;
    r.repo = "owner/repo";
    r.file = std::move(file);
    return r;
  }

  TempDir tmp_;
  FakeHub hub_;
  DownloadOptions options_;
};

TEST_F(HfDownloadTest, PicksQ4KMGgufAndVerifiesIt) {
  hub_.files["model-F16.gguf"] = {MakeContent(3000, 1)};
  hub_.files["model-Q8_0.gguf"] = {MakeContent(2000, 2)};
  hub_.files["model-Q4_K_M.gguf"] = {MakeContent(100000, 3)};
  hub_.files["model-Q2_K.gguf"] = {MakeContent(500, 4)};
  hub_.files["README.md"] = {"# readme", false};
  auto got = DownloadFromHub(Repo(), options_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(fs::path(*got), RepoDir() / "model-Q4_K_M.gguf");
  EXPECT_EQ(ReadFile(*got), hub_.files["model-Q4_K_M.gguf"].content);
  EXPECT_FALSE(fs::exists(*got + ".part"));
  EXPECT_EQ(hub_.file_requests().size(), 1u);
  EXPECT_EQ(hub_.file_requests()[0].range, "");
}

TEST_F(HfDownloadTest, WithoutQ4KMPicksQ8ThenSmallest) {
  hub_.files["a-F16.gguf"] = {MakeContent(3000, 1)};
  hub_.files["a-Q8_0.gguf"] = {MakeContent(2000, 2)};
  hub_.files["a-Q2_K.gguf"] = {MakeContent(500, 4)};
  auto got = DownloadFromHub(Repo(), options_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(fs::path(*got).filename(), "a-Q8_0.gguf");

  hub_.files.erase("a-Q8_0.gguf");
  options_.cache_dir = (tmp_.path() / "cache2").string();
  got = DownloadFromHub(Repo(), options_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(fs::path(*got).filename(), "a-Q2_K.gguf");
}

TEST_F(HfDownloadTest, HfLayoutDownloadsTheModelFilesIntoADirectory) {
  hub_.files["config.json"] = {R"({"model_type":"llama"})", false};
  hub_.files["tokenizer.json"] = {"{}", false};
  hub_.files["tokenizer_config.json"] = {"{}", false};
  hub_.files["model.safetensors"] = {MakeContent(50000, 5)};
  hub_.files["README.md"] = {"# readme", false};
  hub_.files["original/consolidated.safetensors"] = {MakeContent(100, 6)};
  auto got = DownloadFromHub(Repo(), options_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(fs::path(*got), RepoDir());
  EXPECT_EQ(ReadFile(RepoDir() / "model.safetensors"), hub_.files["model.safetensors"].content);
  EXPECT_EQ(ReadFile(RepoDir() / "config.json"), hub_.files["config.json"].content);
  EXPECT_TRUE(fs::exists(RepoDir() / "tokenizer.json"));
  EXPECT_TRUE(fs::exists(RepoDir() / "tokenizer_config.json"));
  EXPECT_FALSE(fs::exists(RepoDir() / "README.md"));
  EXPECT_FALSE(fs::exists(RepoDir() / "original"));
  EXPECT_EQ(hub_.file_requests().size(), 4u);
  // The model directory resolves like any local one.
  auto picked = PickModelInDirectory(*got);
  ASSERT_TRUE(picked.ok()) << picked.status().message();
}

TEST_F(HfDownloadTest, RepoWithoutModelIsNotFound) {
  hub_.files["README.md"] = {"# readme", false};
  auto got = DownloadFromHub(Repo(), options_);
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(got.status().message(), HasSubstr("hf:owner/repo:"));
}

TEST_F(HfDownloadTest, NamedFileInASubdirectory) {
  hub_.files["sub/dir/w.gguf"] = {MakeContent(1234, 7)};
  auto got = DownloadFromHub(Repo("sub/dir/w.gguf"), options_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(fs::path(*got), RepoDir() / "sub" / "dir" / "w.gguf");
  EXPECT_EQ(ReadFile(*got), hub_.files["sub/dir/w.gguf"].content);
}

TEST_F(HfDownloadTest, ResumesAfterADroppedConnectionOnTheNextCall) {
  const std::string content = MakeContent(200000, 8);
  hub_.files["m.gguf"] = {content};
  hub_.cut_first_file_request_after = 70000;
  options_.max_attempts = 1;
  auto first = DownloadFromHub(Repo("m.gguf"), options_);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(first.status().message(), HasSubstr("resume"));
  const fs::path part = RepoDir() / "m.gguf.part";
  ASSERT_TRUE(fs::exists(part));
  EXPECT_EQ(fs::file_size(part), 70000u);
  EXPECT_FALSE(fs::exists(RepoDir() / "m.gguf"));

  auto second = DownloadFromHub(Repo("m.gguf"), options_);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(ReadFile(*second), content);
  EXPECT_FALSE(fs::exists(part));
  const auto reqs = hub_.file_requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].range, "");
  EXPECT_EQ(reqs[1].range, "bytes=70000-");
}

TEST_F(HfDownloadTest, ResumesWithinOneCall) {
  const std::string content = MakeContent(150000, 9);
  hub_.files["m.gguf"] = {content};
  hub_.cut_first_file_request_after = 1000;
  auto got = DownloadFromHub(Repo(), options_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(ReadFile(*got), content);
  const auto reqs = hub_.file_requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].range, "bytes=1000-");
}

TEST_F(HfDownloadTest, ServerIgnoringRangeStartsOver) {
  const std::string content = MakeContent(5000, 10);
  hub_.files["m.gguf"] = {content};
  hub_.ignore_range = true;
  WriteFile(RepoDir() / "m.gguf.part", "garbage that is not the start of the file");
  auto got = DownloadFromHub(Repo("m.gguf"), options_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(ReadFile(*got), content);
  ASSERT_EQ(hub_.file_requests().size(), 1u);
  EXPECT_THAT(hub_.file_requests()[0].range, HasSubstr("bytes="));
}

TEST_F(HfDownloadTest, CompletePartFileIsVerifiedNotRefetched) {
  const std::string content = MakeContent(5000, 11);
  hub_.files["m.gguf"] = {content};
  WriteFile(RepoDir() / "m.gguf.part", content);  // e.g. killed just before the rename
  auto got = DownloadFromHub(Repo("m.gguf"), options_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(ReadFile(*got), content);
}

TEST_F(HfDownloadTest, Sha256MismatchIsDataLossAndLeavesNoFile) {
  hub_.files["m.gguf"] = {MakeContent(10000, 12), true, std::string(64, 'a')};
  auto got = DownloadFromHub(Repo(), options_);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kDataLoss);
  const std::string& msg = got.status().message();
  EXPECT_THAT(msg, HasSubstr("m.gguf"));
  EXPECT_THAT(msg, HasSubstr(std::string(64, 'a')));
  EXPECT_THAT(msg, HasSubstr(Sha256Hex(hub_.files["m.gguf"].content)));
  EXPECT_FALSE(fs::exists(RepoDir() / "m.gguf"));
  EXPECT_FALSE(fs::exists(RepoDir() / "m.gguf.part"));
}

TEST_F(HfDownloadTest, CorruptPartialFileIsCaughtBySha256) {
  const std::string content = MakeContent(10000, 13);
  hub_.files["m.gguf"] = {content};
  WriteFile(RepoDir() / "m.gguf.part", std::string(4000, 'z'));  // wrong bytes, resumable length
  auto got = DownloadFromHub(Repo("m.gguf"), options_);
  EXPECT_EQ(got.status().code(), StatusCode::kDataLoss);
  EXPECT_FALSE(fs::exists(RepoDir() / "m.gguf.part"));
  // The next attempt starts clean and succeeds.
  got = DownloadFromHub(Repo("m.gguf"), options_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(ReadFile(*got), content);
}

TEST_F(HfDownloadTest, MissingRepoIs404NotFound) {
  HubRequest r;
  r.repo = "owner/missing";
  auto got = DownloadFromHub(r, options_);
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(got.status().message(), HasSubstr("owner/missing"));
  EXPECT_THAT(got.status().message(), HasSubstr("404"));
}

TEST_F(HfDownloadTest, MissingFileIs404NotFound) {
  hub_.files["m.gguf"] = {MakeContent(100, 14)};
  auto got = DownloadFromHub(Repo("other.gguf"), options_);
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(got.status().message(), HasSubstr("other.gguf"));
  EXPECT_FALSE(fs::exists(RepoDir() / "other.gguf.part"));
}

TEST_F(HfDownloadTest, UnauthorizedSaysToSetHfToken) {
  hub_.files["m.gguf"] = {MakeContent(100, 15)};
  hub_.required_token = "secret";
  auto got = DownloadFromHub(Repo(), options_);
  EXPECT_EQ(got.status().code(), StatusCode::kUnauthenticated);
  EXPECT_THAT(got.status().message(), HasSubstr("HF_TOKEN"));
  EXPECT_THAT(got.status().message(), HasSubstr("401"));
  got = DownloadFromHub(Repo("m.gguf"), options_);  // the file route too
  EXPECT_EQ(got.status().code(), StatusCode::kUnauthenticated);
  EXPECT_THAT(got.status().message(), HasSubstr("HF_TOKEN"));
}

TEST_F(HfDownloadTest, SendsTheTokenAsBearer) {
  hub_.files["m.gguf"] = {MakeContent(100, 16)};
  hub_.required_token = "secret";
  options_.token = "secret";
  auto got = DownloadFromHub(Repo(), options_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  for (const auto& r : hub_.requests()) EXPECT_EQ(r.authorization, "Bearer secret") << r.path;
}

TEST_F(HfDownloadTest, NoAuthorizationHeaderWithoutToken) {
  hub_.files["m.gguf"] = {MakeContent(100, 17)};
  ASSERT_TRUE(DownloadFromHub(Repo(), options_).ok());
  for (const auto& r : hub_.requests()) EXPECT_EQ(r.authorization, "") << r.path;
}

TEST_F(HfDownloadTest, FollowsRedirects) {
  const std::string content = MakeContent(30000, 18);
  hub_.files["m.gguf"] = {content};
  hub_.redirect_files = true;
  auto got = DownloadFromHub(Repo(), options_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(ReadFile(*got), content);
  bool saw_cdn = false;
  for (const auto& r : hub_.requests()) saw_cdn |= r.path == "/cdn/m.gguf";
  EXPECT_TRUE(saw_cdn);
}

TEST_F(HfDownloadTest, CompleteNamedFileMakesNoRequest) {
  WriteFile(RepoDir() / "m.gguf", "already here");
  auto got = DownloadFromHub(Repo("m.gguf"), options_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(ReadFile(*got), "already here");
  EXPECT_TRUE(hub_.requests().empty());
}

TEST_F(HfDownloadTest, CompleteFilesAreNotFetchedAgain) {
  hub_.files["m.gguf"] = {MakeContent(4000, 19)};
  ASSERT_TRUE(DownloadFromHub(Repo(), options_).ok());
  ASSERT_EQ(hub_.file_requests().size(), 1u);
  auto again = DownloadFromHub(Repo(), options_);  // the listing only
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(hub_.file_requests().size(), 1u);
  EXPECT_EQ(hub_.requests().size(), 3u);
}

TEST_F(HfDownloadTest, NetworkFailureIsUnavailable) {
  // A port that is bound but not listening: connections to it are refused.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  options_.endpoint = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto got = DownloadFromHub(Repo(), options_);
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("internet"));
  got = DownloadFromHub(Repo("m.gguf"), options_);
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
  ::close(fd);
}

TEST_F(HfDownloadTest, ResolveModelPathDownloadsHfSpecsAndFallsBackToTheCacheOffline) {
  const std::string content = MakeContent(2000, 20);
  hub_.files["m-Q4_K_M.gguf"] = {content};
  ModelSearchPaths paths;
  paths.download = options_;
  auto got = ResolveModelPath("hf:owner/repo", paths);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(ReadFile(*got), content);
  got = ResolveModelPath("hf:owner/repo:m-Q4_K_M.gguf", paths);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(ReadFile(*got), content);

  hub_.Stop();  // now offline
  got = ResolveModelPath("hf:owner/repo", paths);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(fs::path(*got), RepoDir() / "m-Q4_K_M.gguf");
}

TEST(ParseHubSpecTest, Forms) {
  auto r = ParseHubSpec("owner/repo");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->repo, "owner/repo");
  EXPECT_FALSE(r->file.has_value());
  EXPECT_EQ(r->revision, "main");
  r = ParseHubSpec("owner/repo@v1.0:dir/w.gguf");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->repo, "owner/repo");
  EXPECT_EQ(r->revision, "v1.0");
  EXPECT_EQ(*r->file, "dir/w.gguf");
  for (const char* bad : {"repo", "a/b/c", "a/", "/b", "a/b:", "a/b:../x", "a/b@:f", "a b/c"}) {
    EXPECT_FALSE(ParseHubSpec(bad).ok()) << bad;
  }
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(DownloadOptionsTest, FromEnvironment) {
  {
    ScopedEnv a("WEFT_HF_ENDPOINT", nullptr), b("HF_ENDPOINT", nullptr), c("HF_TOKEN", nullptr),
        d("HUGGING_FACE_HUB_TOKEN", nullptr);
    const DownloadOptions o = DownloadOptions::FromEnvironment();
    EXPECT_EQ(o.endpoint, "https://huggingface.co");
    EXPECT_FALSE(o.token.has_value());
  }
  {
    ScopedEnv a("WEFT_HF_ENDPOINT", nullptr), b("HF_ENDPOINT", "http://mirror"),
        c("HF_TOKEN", "tok"), x("XDG_CACHE_HOME", "/x");
    const DownloadOptions o = DownloadOptions::FromEnvironment();
    EXPECT_EQ(o.endpoint, "http://mirror");
    EXPECT_EQ(o.token.value_or(""), "tok");
    EXPECT_EQ(o.cache_dir, "/x/weft");
  }
  {
    ScopedEnv a("WEFT_HF_ENDPOINT", "http://weft-mirror"), b("HF_ENDPOINT", "http://mirror");
    EXPECT_EQ(DownloadOptions::FromEnvironment().endpoint, "http://weft-mirror");
  }
}

}  // namespace
}  // namespace weft
