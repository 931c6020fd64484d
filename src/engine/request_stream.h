// RequestStream: the channel from the engine thread to one request's client. The engine
// pushes RequestOutputs; the client pops them (blocking, with a timeout) until every
// sample has finished. Cancel() asks the engine to abort the request; its blocks are
// freed at the next step.
// Thread-safety: Push/Close from the engine thread, Next/Cancel from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/request.h"

namespace weft {

class RequestStream {
 public:
  RequestStream(uint64_t id, int32_t num_samples, int32_t num_prompt_tokens)
      : id_(id), num_samples_(num_samples), num_prompt_tokens_(num_prompt_tokens) {}

  uint64_t id() const { return id_; }
  int32_t num_samples() const { return num_samples_; }
  int32_t num_prompt_tokens() const { return num_prompt_tokens_; }

  // The next output, waiting up to `timeout`; nullopt on timeout or once finished and
  // drained (check finished()).
  std::optional<RequestOutput> Next(std::chrono::milliseconds timeout = std::chrono::hours(24));
  // True when every sample has sent its last piece and all were read.
  bool finished() const;
  void Cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

  // Engine side.
  void Push(RequestOutput out);
  // Any thread, when the engine can no longer finish the request (a tensor-parallel rank
  // died): every unfinished sample ends with kError and `error`; later pushes are dropped.
  void FailUnfinished(const std::string& error);

  // Called after every Push, on the pushing thread with the stream's lock held: it must be
  // quick and must not call back into this stream (an event loop posts a wake-up). Set it
  // before reading with Next(0) so that no output goes unnoticed; null stops the calls,
  // and once SetWaker(nullptr) has returned the old waker is not running nor called again.
  void SetWaker(std::function<void()> waker);

  // Client-side timing, set by the engine: when the request was submitted and when its
  // first token was pushed (nanoseconds since steady_clock's epoch; 0 = not yet).
  std::atomic<int64_t> submit_ns{0};
  std::atomic<int64_t> first_token_ns{0};
  std::atomic<int64_t> queued_ns{0};  // time from submit to first admission

 private:
  const uint64_t id_;
  const int32_t num_samples_;
  const int32_t num_prompt_tokens_;
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RequestOutput> queue_;  // guarded by mu_
  int32_t samples_done_ = 0;         // guarded by mu_
  std::vector<bool> sample_done_;    // guarded by mu_; sized on first use
  bool failed_ = false;              // guarded by mu_: FailUnfinished ran
  std::function<void()> waker_;      // guarded by mu_
};

}  // namespace weft
