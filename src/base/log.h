// Levelled logging to stderr. The level comes from $WEFT_LOG (debug|info|warn|error|off,
// default info), read once; SetLogLevel overrides it (e.g. from a --log-level flag).
// Messages are fmt-style; arguments are not evaluated when the level is off.
// Thread-safety: safe from any thread; each message is written with one write call.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace weft {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

LogLevel GetLogLevel();
void SetLogLevel(LogLevel level);
// Parses "debug", "info", "warn"/"warning", "error", "off"; false if unknown.
bool ParseLogLevel(std::string_view text, LogLevel* out);

namespace internal {
void LogWrite(LogLevel level, const char* file, int line, std::string_view message);
}  // namespace internal

}  // namespace weft

#define WEFT_LOG_AT(level, ...)                                                      \
  do {                                                                               \
    if (static_cast<int>(level) >= static_cast<int>(::weft::GetLogLevel())) {        \
      ::weft::internal::LogWrite(level, __FILE__, __LINE__, ::fmt::format(__VA_ARGS__)); \
    }                                                                                \
  } while (0)

#define WEFT_LOG_DEBUG(...) WEFT_LOG_AT(::weft::LogLevel::kDebug, __VA_ARGS__)
#define WEFT_LOG_INFO(...) WEFT_LOG_AT(::weft::LogLevel::kInfo, __VA_ARGS__)
#define WEFT_LOG_WARN(...) WEFT_LOG_AT(::weft::LogLevel::kWarn, __VA_ARGS__)
#define WEFT_LOG_ERROR(...) WEFT_LOG_AT(::weft::LogLevel::kError, __VA_ARGS__)
