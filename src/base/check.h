// WEFT_CHECK: invariants that only a bug can break. On failure: print file:line, the
// condition and an optional fmt-style message, then abort. Never use for user input
// (that is a Status). WEFT_DCHECK compiles away in release builds.
#pragma once

#include <fmt/format.h>

#include <string>

namespace weft::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace weft::internal

#define WEFT_CHECK(cond, ...)                                                               \
  do {                                                                                      \
    if (__builtin_expect(!(cond), 0)) {                                                     \
      ::weft::internal::CheckFailed(__FILE__, __LINE__, #cond,                              \
                                    std::string() __VA_OPT__(+ ::fmt::format(__VA_ARGS__))); \
    }                                                                                       \
  } while (0)

#ifdef NDEBUG
#define WEFT_DCHECK(cond, ...) \
  do {                         \
  } while (0)
#else
#define WEFT_DCHECK(cond, ...) WEFT_CHECK(cond __VA_OPT__(, ) __VA_ARGS__)
#endif
