#include "base/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <string>

namespace weft {
namespace {

LogLevel LevelFromEnvironment() {
  const char* env = std::getenv("WEFT_LOG");
  LogLevel level = LogLevel::kInfo;
  if (env != nullptr && !ParseLogLevel(env, &level)) {
    std::string msg = fmt::format("weft: ignoring WEFT_LOG={} (use debug, info, warn, error or off)\n", env);
    (void)!write(STDERR_FILENO, msg.data(), msg.size());
  }
  return level;
}

std::atomic<int>& LevelSlot() {
  static std::atomic<int> level{static_cast<int>(LevelFromEnvironment())};
  return level;
}

char LevelLetter(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return 'D';
    case LogLevel::kInfo: return 'I';
    case LogLevel::kWarn: return 'W';
    case LogLevel::kError: return 'E';
    case LogLevel::kOff: break;
  }
  return '?';
}

}  // namespace

LogLevel GetLogLevel() { return static_cast<LogLevel>(LevelSlot().load(std::memory_order_relaxed)); }
void SetLogLevel(LogLevel level) { LevelSlot().store(static_cast<int>(level), std::memory_order_relaxed); }

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  if (text == "debug") *out = LogLevel::kDebug;
  else if (text == "info") *out = LogLevel::kInfo;
  else if (text == "warn" || text == "warning") *out = LogLevel::kWarn;
  else if (text == "error") *out = LogLevel::kError;
  else if (text == "off" || text == "none") *out = LogLevel::kOff;
  else return false;
  return true;
}

namespace internal {

void LogWrite(LogLevel level, const char* file, int line, std::string_view message) {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t t = system_clock::to_time_t(now);
  int ms = static_cast<int>(duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::string_view base(file);
  if (auto slash = base.rfind('/'); slash != std::string_view::npos) base.remove_prefix(slash + 1);
  std::string out = fmt::format("[{} {:02}:{:02}:{:02}.{:03} {}:{}] {}\n", LevelLetter(level), tm.tm_hour,
                                tm.tm_min, tm.tm_sec, ms, base, line, message);
  (void)!write(STDERR_FILENO, out.data(), out.size());
}

}  // namespace internal
}  // namespace weft
