#include "engine/request_stream.h"

namespace weft {

const char* RequestFinishName(RequestFinish f) {
  switch (f) {
    case RequestFinish::kNone: return "none";
    case RequestFinish::kStop: return "stop";
    case RequestFinish::kLength: return "length";
    case RequestFinish::kAbort: return "abort";
    case RequestFinish::kError: return "error";
  }
  return "?";
}

void RequestStream::Push(RequestOutput out) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (out.finish != RequestFinish::kNone) ++samples_done_;
    queue_.push_back(std::move(out));
    if (waker_) waker_();
  }
  cv_.notify_all();
}

void RequestStream::SetWaker(std::function<void()> waker) {
  std::lock_guard<std::mutex> lock(mu_);
  waker_ = std::move(waker);
}

std::optional<RequestOutput> RequestStream::Next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || samples_done_ >= num_samples_; });
  if (queue_.empty()) return std::nullopt;
  RequestOutput out = std::move(queue_.front());
  queue_.pop_front();
  return out;
}

bool RequestStream::finished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return samples_done_ >= num_samples_ && queue_.empty();
}

}  // namespace weft
