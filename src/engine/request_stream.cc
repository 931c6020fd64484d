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
    if (failed_) return;
    if (out.finish != RequestFinish::kNone) {
      ++samples_done_;
      sample_done_.resize(static_cast<size_t>(num_samples_), false);
      if (out.sample_index >= 0 && out.sample_index < num_samples_) sample_done_[static_cast<size_t>(out.sample_index)] = true;
    }
    queue_.push_back(std::move(out));
    if (waker_) waker_();
  }
  cv_.notify_all();
}

void RequestStream::FailUnfinished(const std::string& error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_) return;
    failed_ = true;
    sample_done_.resize(static_cast<size_t>(num_samples_), false);
    for (int32_t i = 0; i < num_samples_; ++i) {
      if (sample_done_[static_cast<size_t>(i)]) continue;
      RequestOutput out;
      out.sample_index = i;
      out.finish = RequestFinish::kError;
      out.error = error;
      out.num_prompt_tokens = num_prompt_tokens_;
      sample_done_[static_cast<size_t>(i)] = true;
      ++samples_done_;
      queue_.push_back(std::move(out));
    }
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
