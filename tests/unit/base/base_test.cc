// Status/StatusOr, CHECK, logging levels, CPU features, mapped files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "base/check.h"
#include "base/cpu_info.h"
#include "base/log.h"
#include "base/mapped_file.h"
#include "weft/status.h"

namespace weft {
namespace {

using ::testing::HasSubstr;

StatusOr<int> Half(int x) {
  if (x % 2) return InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}

Status Chain(int x, int* out) {
  WEFT_ASSIGN_OR_RETURN(int h, Half(x));
  WEFT_ASSIGN_OR_RETURN(*out, Half(h));
  return Status::Ok();
}

TEST(Status, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = NotFoundError("tensor 'x' missing");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.WithContext("model.gguf").message(), "model.gguf: tensor 'x' missing");
  EXPECT_EQ(Status::Ok().WithContext("ctx").message(), "");
  EXPECT_EQ(StatusCodeName(StatusCode::kDataLoss), "corrupt data");
}

TEST(Status, FieldTravelsWithTheErrorNotWithOk) {
  const Status s = InvalidArgumentError("n = 9 is too many").WithField("n");
  EXPECT_EQ(s.field(), "n");
  EXPECT_EQ(s.message(), "n = 9 is too many");  // the message is not touched
  const Status up = s.WithContext("request 3");
  EXPECT_EQ(up.field(), "n");
  EXPECT_EQ(up.message(), "request 3: n = 9 is too many");
  EXPECT_EQ(std::move(up).WithField("messages").field(), "messages");
  EXPECT_EQ(Status::Ok().WithField("n").field(), "");
  EXPECT_EQ(NotFoundError("x").field(), "");
}

TEST(Status, StatusOrAndMacros) {
  int out = 0;
  EXPECT_TRUE(Chain(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status s = Chain(6, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "odd: 3");
  StatusOr<std::string> v = std::string("x");
  EXPECT_EQ(*v, "x");
  EXPECT_TRUE(v.status().ok());
}

TEST(StatusDeathTest, ValueOfErrorAborts) {
  StatusOr<int> e = InternalError("boom");
  EXPECT_DEATH((void)e.value(), "value\\(\\) of an error StatusOr: boom");
  EXPECT_DEATH(StatusOr<int>{Status::Ok()}, "from an OK Status");
}

TEST(CheckDeathTest, PrintsConditionAndMessage) {
  int x = 3;
  EXPECT_DEATH(WEFT_CHECK(x == 4, "x was {}", x), "check failed at .*base_test.cc:[0-9]+: x == 4: x was 3");
  EXPECT_DEATH(WEFT_CHECK(x < 0), "x < 0");
  WEFT_CHECK(x == 3);  // passes silently
}

TEST(Log, LevelsParseAndFilter) {
  LogLevel l;
  EXPECT_TRUE(ParseLogLevel("debug", &l));
  EXPECT_EQ(l, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("warning", &l));
  EXPECT_EQ(l, LogLevel::kWarn);
  EXPECT_FALSE(ParseLogLevel("loud", &l));
  LogLevel before = GetLogLevel();
  SetLogLevel(LogLevel::kError);
  int evaluated = 0;
  auto count = [&] { return ++evaluated; };
  WEFT_LOG_INFO("not shown {}", count());
  EXPECT_EQ(evaluated, 0);  // arguments are not evaluated below the level
  ::testing::internal::CaptureStderr();
  WEFT_LOG_ERROR("shown {}", count());
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(evaluated, 1);
  EXPECT_THAT(err, ::testing::MatchesRegex("\\[E [0-9:.]+ base_test.cc:[0-9]+\\] shown 1\n"));
  SetLogLevel(before);
}

TEST(CpuInfo, ConsistentFeatures) {
  const CpuFeatures& f = GetCpuFeatures();
  if (f.avx512bw || f.avx512vl || f.avx512vnni || f.avx512bf16) {
    EXPECT_TRUE(f.avx512f);
  }
  if (f.avx512f) {
    EXPECT_TRUE(f.avx2);
  }
  EXPECT_FALSE(f.ToString().empty());
  EXPECT_GE(PhysicalCoreCount(), 1);
  // On x86-64 Linux, /proc/cpuinfo flags must agree with our CPUID reading.
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    auto has = [&](const std::string& flag) { return (line + " ").find(" " + flag + " ") != std::string::npos; };
    EXPECT_EQ(f.avx512f, has("avx512f"));
    EXPECT_EQ(f.avx512bw, has("avx512bw"));
    EXPECT_EQ(f.avx512vnni, has("avx512_vnni"));
    EXPECT_EQ(f.avx512bf16, has("avx512_bf16"));
    EXPECT_EQ(f.avx2, has("avx2") && has("fma") && has("f16c"));
    break;
  }
}

TEST(MappedFile, MapsAndReportsErrors) {
  auto dir = std::filesystem::temp_directory_path() / "weft-mapped-file-test";
  std::filesystem::create_directories(dir);
  std::string path = (dir / "f.bin").string();
  { std::ofstream(path, std::ios::binary) << "hello"; }
  auto m = MappedFile::Open(path);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ((*m)->size(), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*m)->data()), 5), "hello");
  std::string empty = (dir / "empty.bin").string();
  { std::ofstream(empty, std::ios::binary); }
  auto e = MappedFile::Open(empty);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->size(), 0u);
  auto missing = MappedFile::Open((dir / "nope").string());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope"));
  EXPECT_FALSE(MappedFile::Open(dir.string()).ok());
  auto text = ReadFileToString(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "hello");
  EXPECT_EQ(ReadFileToString((dir / "nope").string()).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace weft
