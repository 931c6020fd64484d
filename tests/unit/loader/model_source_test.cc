#include "loader/model_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace weft {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "weft-model-source-XXXXXX").string();
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

void Touch(const fs::path& p, const std::string& content = "x") {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << content;
}

std::string Canon(const fs::path& p) { return fs::weakly_canonical(p).string(); }

class ModelSourceTest : public ::testing::Test {
 protected:
  ModelSourceTest() {
    paths_.roots = {{(tmp_.path() / "env").string(), "$WEFT_MODELS"},
                    {(tmp_.path() / "shared").string(), "../shared/models"},
                    {(tmp_.path() / "cache").string(), "user cache"}};
    paths_.download.cache_dir = (tmp_.path() / "cache").string();
    paths_.download.endpoint = "http://127.0.0.1:1";  // never reached in these tests
  }
  fs::path Root(const char* name) const { return tmp_.path() / name; }

  TempDir tmp_;
  ModelSearchPaths paths_;
};

TEST_F(ModelSourceTest, ExplicitPathWinsOverNames) {
  Touch(Root("cwd") / "m.gguf");
  Touch(Root("env") / "m.gguf");
  const fs::path old_cwd = fs::current_path();
  fs::current_path(Root("cwd"));
  auto got = ResolveModelPath("m.gguf", paths_);
  fs::current_path(old_cwd);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Canon(*got), Canon(Root("cwd") / "m.gguf"));

  auto abs = ResolveModelPath((Root("cwd") / "m.gguf").string(), paths_);
  ASSERT_TRUE(abs.ok());
  EXPECT_EQ(Canon(*abs), Canon(Root("cwd") / "m.gguf"));
}

TEST_F(ModelSourceTest, ExplicitDirectoryPicksItsModel) {
  Touch(Root("explicit") / "only.gguf");
  auto got = ResolveModelPath(Root("explicit").string(), paths_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Canon(*got), Canon(Root("explicit") / "only.gguf"));
}

TEST_F(ModelSourceTest, RootsAreSearchedInOrder) {
  Touch(Root("env") / "m" / "a.gguf");
  Touch(Root("shared") / "m" / "a.gguf");
  Touch(Root("cache") / "m" / "a.gguf");
  auto got = ResolveModelPath("m/a.gguf", paths_);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Canon(*got), Canon(Root("env") / "m" / "a.gguf"));

  fs::remove_all(Root("env"));
  got = ResolveModelPath("m/a.gguf", paths_);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Canon(*got), Canon(Root("shared") / "m" / "a.gguf"));

  fs::remove_all(Root("shared"));
  got = ResolveModelPath("m", paths_);  // a directory name, too
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Canon(*got), Canon(Root("cache") / "m" / "a.gguf"));
}

TEST_F(ModelSourceTest, NotFoundListsEveryPlaceAndSuggestsHub) {
  auto got = ResolveModelPath("no-such-model", paths_);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  const std::string& msg = got.status().message();
  EXPECT_THAT(msg, HasSubstr("no-such-model"));
  EXPECT_THAT(msg, HasSubstr((Root("env") / "no-such-model").string()));
  EXPECT_THAT(msg, HasSubstr((Root("shared") / "no-such-model").string()));
  EXPECT_THAT(msg, HasSubstr((Root("cache") / "no-such-model").string()));
  EXPECT_THAT(msg, HasSubstr("$WEFT_MODELS"));
  EXPECT_THAT(msg, HasSubstr("user cache"));
  EXPECT_THAT(msg, HasSubstr("hf:owner/repo"));
  // The place list keeps the search order.
  EXPECT_LT(msg.find("$WEFT_MODELS"), msg.find("user cache"));
}

TEST_F(ModelSourceTest, EmptySpecIsInvalid) {
  EXPECT_EQ(ResolveModelPath("", paths_).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ModelSourceTest, BadHubSpecIsInvalid) {
  for (const char* spec : {"hf:norepo", "hf:/x", "hf:a/b/c", "hf:a/b:../../etc/passwd",
                           "hf:a/b:/abs", "hf:../x"}) {
    auto got = ResolveModelPath(spec, paths_);
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << spec;
  }
}

TEST(PickModelInDirectoryTest, HfLayoutWinsOverGguf) {
  TempDir tmp;
  Touch(tmp.path() / "config.json", "{}");
  Touch(tmp.path() / "model.safetensors");
  Touch(tmp.path() / "model.gguf");
  auto got = PickModelInDirectory(tmp.path().string());
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Canon(*got), Canon(tmp.path()));
}

TEST(PickModelInDirectoryTest, SingleGguf) {
  TempDir tmp;
  Touch(tmp.path() / "weights.gguf");
  Touch(tmp.path() / "README.md");
  Touch(tmp.path() / "mmproj-f16.gguf");  // a vision projector, not a language model
  auto got = PickModelInDirectory(tmp.path().string());
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Canon(*got), Canon(tmp.path() / "weights.gguf"));
}

TEST(PickModelInDirectoryTest, SeveralGgufsIsAnErrorListingThem) {
  TempDir tmp;
  Touch(tmp.path() / "a-Q4_0.gguf");
  Touch(tmp.path() / "a-Q8_0.gguf");
  auto got = PickModelInDirectory(tmp.path().string());
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("a-Q4_0.gguf"));
  EXPECT_THAT(got.status().message(), HasSubstr("a-Q8_0.gguf"));
}

TEST(PickModelInDirectoryTest, SeveralGgufsPreferTheOneNamedLikeTheDirectory) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "mymodel";
  Touch(dir / "mymodel.gguf");
  Touch(dir / "mymodel-q8_0.gguf");
  auto got = PickModelInDirectory(dir.string());
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Canon(*got), Canon(dir / "mymodel.gguf"));
}

TEST(PickModelInDirectoryTest, Llama2cBinSkipsTokenizerFiles) {
  TempDir tmp;
  Touch(tmp.path() / "stories.bin");
  Touch(tmp.path() / "tok512.bin");
  Touch(tmp.path() / "tokenizer.bin");
  auto got = PickModelInDirectory(tmp.path().string());
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Canon(*got), Canon(tmp.path() / "stories.bin"));
}

TEST(PickModelInDirectoryTest, EmptyDirectoryIsNotFound) {
  TempDir tmp;
  auto got = PickModelInDirectory(tmp.path().string());
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(got.status().message(), HasSubstr(".gguf"));
}

TEST(PickModelInDirectoryTest, PytorchOnlyHfLayoutIsUnsupported) {
  TempDir tmp;
  Touch(tmp.path() / "config.json", "{}");
  Touch(tmp.path() / "pytorch_model.bin");
  auto got = PickModelInDirectory(tmp.path().string());
  EXPECT_EQ(got.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(got.status().message(), HasSubstr("safetensors"));
}

// The real models in ../shared/models.
class SharedModelsTest : public ::testing::Test {
 protected:
  SharedModelsTest() {
    paths_.roots = {{std::string(WEFT_SHARED_DIR) + "/models", "../shared/models"}};
    paths_.download.cache_dir = "";
  }
  static std::string Shared(const std::string& rel) {
    return Canon(fs::path(WEFT_SHARED_DIR) / "models" / rel);
  }
  ModelSearchPaths paths_;
};

TEST_F(SharedModelsTest, DefaultModelResolves) {
  EXPECT_EQ(DefaultModelName(), "tinyllama-v0");
  auto got = ResolveModelPath(DefaultModelName(), paths_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Canon(*got), Shared("tinyllama-v0/TinyLLama-v0.Q4_0.gguf"));
}

TEST_F(SharedModelsTest, FileInsideADirectory) {
  auto got = ResolveModelPath("stories260K/stories260K.gguf", paths_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Canon(*got), Shared("stories260K/stories260K.gguf"));
  got = ResolveModelPath("tinyllama-v0/TinyLLama-v0.Q4_0.gguf", paths_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Canon(*got), Shared("tinyllama-v0/TinyLLama-v0.Q4_0.gguf"));
}

TEST_F(SharedModelsTest, DirectoryNames) {
  auto got = ResolveModelPath("stories260K", paths_);  // two .gguf, one named like the dir
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Canon(*got), Shared("stories260K/stories260K.gguf"));
  got = ResolveModelPath("stories260K/hf", paths_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Canon(*got), Shared("stories260K/hf"));
  got = ResolveModelPath("stories260K/llama2c", paths_);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Canon(*got), Shared("stories260K/llama2c/stories260K.bin"));
}

// Sets environment variables for one test and restores them after.
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

TEST(ModelSearchPathsTest, FromEnvironmentOrder) {
  TempDir tmp;
  const std::string a = (tmp.path() / "a").string(), b = (tmp.path() / "b").string();
  const std::string xdg = (tmp.path() / "xdg").string();
  ScopedEnv models("WEFT_MODELS", (a + ":" + b).c_str());
  ScopedEnv cache("XDG_CACHE_HOME", xdg.c_str());
  const ModelSearchPaths paths = ModelSearchPaths::FromEnvironment();
  ASSERT_GE(paths.roots.size(), 4u);
  EXPECT_EQ(paths.roots[0].dir, a);
  EXPECT_EQ(paths.roots[1].dir, b);
  EXPECT_EQ(paths.roots[0].origin, "$WEFT_MODELS");
  EXPECT_THAT(paths.roots[2].dir, HasSubstr("shared/models"));
  EXPECT_EQ(paths.roots.back().dir, xdg + "/weft");
  EXPECT_EQ(paths.roots.back().origin, "user cache");
  EXPECT_EQ(paths.download.cache_dir, xdg + "/weft");
}

TEST(ModelSearchPathsTest, CacheDefaultsToHome) {
  ScopedEnv cache("XDG_CACHE_HOME", nullptr);
  ScopedEnv home("HOME", "/home/someone");
  EXPECT_EQ(UserCacheDir(), "/home/someone/.cache/weft");
}

}  // namespace
}  // namespace weft
