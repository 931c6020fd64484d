// Status and StatusOr<T>: how weft reports everything a user can cause (a bad file,
// a bad request, a missing model). Broken invariants use WEFT_CHECK (base/check.h).
//
// A message names what is wrong and where: the file, tensor, key or field, e.g.
//   "model.gguf: tensor 'blk.0.attn_q.weight': data [1024, 4096) runs past the end of the file (2048 bytes)".
// Callers add where-context with Status::WithContext as the error travels up.
// An error about one field of a request also carries the field's name (WithField), so a
// front end can report it (OpenAI's error "param") without reading the message.
//
// Thread-safety: values; safe to copy and move across threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace weft {

enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidArgument,    // the caller gave something malformed (bad flag, bad request field)
  kNotFound,           // a file, model, key or tensor does not exist
  kDataLoss,           // a file is corrupt or truncated
  kUnimplemented,      // valid but not supported (yet), e.g. GGUF v1, an unknown quant type
  kOutOfRange,         // a value past a limit (prompt longer than the context)
  kResourceExhausted,  // out of memory, KV blocks, queue slots
  kUnavailable,        // try again later (network, server draining)
  kPermissionDenied,
  kUnauthenticated,
  kCancelled,
  kDeadlineExceeded,
  kFailedPrecondition,
  kAlreadyExists,
  kInternal,
};

// Short stable name of a code, e.g. "not found".
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "context: message" (no-op on OK). Use for the file or object the error happened in.
  Status WithContext(std::string_view context) &&;
  Status WithContext(std::string_view context) const&;

  // The request field at fault ("prompt", "n", "temperature", "stream_options.include_usage"),
  // "" when none. WithField sets it (no-op on OK); WithContext keeps it.
  const std::string& field() const { return field_; }
  Status WithField(std::string field) &&;
  Status WithField(std::string field) const&;

  // The message alone for OK-less display; "OK" when ok.
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string field_;
};

Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status DataLossError(std::string message);
Status UnimplementedError(std::string message);
Status OutOfRangeError(std::string message);
Status ResourceExhaustedError(std::string message);
Status UnavailableError(std::string message);
Status FailedPreconditionError(std::string message);
Status InternalError(std::string message);

// Either a T or a non-OK Status. Accessing value() of an error aborts (a bug).
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : v_(std::move(value)) {}                  // NOLINT: implicit by design
  StatusOr(Status status) : v_(std::move(status)) { CheckNotOk(); }  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const& {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  Status status() && { return ok() ? Status() : std::get<Status>(std::move(v_)); }

  T& value() & { CheckOk(); return std::get<T>(v_); }
  const T& value() const& { CheckOk(); return std::get<T>(v_); }
  T&& value() && { CheckOk(); return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void CheckOk() const;
  void CheckNotOk() const;
  std::variant<Status, T> v_;
};

namespace internal {
[[noreturn]] void StatusOrValueOfError(const Status& s);
[[noreturn]] void StatusOrFromOk();
}  // namespace internal

template <typename T>
void StatusOr<T>::CheckOk() const {
  if (!ok()) internal::StatusOrValueOfError(std::get<Status>(v_));
}
template <typename T>
void StatusOr<T>::CheckNotOk() const {
  if (std::get<Status>(v_).ok()) internal::StatusOrFromOk();
}

}  // namespace weft

#define WEFT_STATUS_CONCAT_INNER(a, b) a##b
#define WEFT_STATUS_CONCAT(a, b) WEFT_STATUS_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define WEFT_RETURN_IF_ERROR(expr)                      \
  do {                                                  \
    ::weft::Status weft_status_ = (expr);               \
    if (!weft_status_.ok()) return weft_status_;        \
  } while (0)

// `lhs = value of expr` or return its Status. lhs may declare: `auto x`.
#define WEFT_ASSIGN_OR_RETURN(lhs, expr) \
  WEFT_ASSIGN_OR_RETURN_IMPL(WEFT_STATUS_CONCAT(weft_statusor_, __LINE__), lhs, expr)
#define WEFT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()
