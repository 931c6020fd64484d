#include "engine/engine.h"

#include "base/log.h"

namespace weft {

Engine::Engine(std::unique_ptr<EngineCore> core, std::shared_ptr<const Tokenizer> tokenizer)
    : core_(std::move(core)), tokenizer_(std::move(tokenizer)) {}

StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineConfig& config,
                                                 std::shared_ptr<const Model> model,
                                                 std::shared_ptr<const Tokenizer> tokenizer) {
  WEFT_ASSIGN_OR_RETURN(auto core, EngineCore::Create(config, std::move(model), tokenizer));
  auto engine = std::unique_ptr<Engine>(new Engine(std::move(core), std::move(tokenizer)));
  engine->stats_ = engine->core_->Stats();
  engine->thread_ = std::thread([e = engine.get()] { e->Loop(); });
  return engine;
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

StatusOr<std::shared_ptr<RequestStream>> Engine::Submit(GenerationRequest request) {
  WEFT_RETURN_IF_ERROR(CheckAdmission(request));
  std::shared_ptr<RequestStream> stream;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return UnavailableError("the engine is shutting down");
    stream = std::make_shared<RequestStream>(next_id_++, request.sampling.n,
                                             static_cast<int32_t>(request.prompt_tokens.size()));
    stream->submit_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count(),
                            std::memory_order_relaxed);
    inbox_.push_back({stream, std::move(request)});
  }
  cv_.notify_all();
  return stream;
}

Status Engine::CheckAdmission(const GenerationRequest& request) const {
  return weft::CheckAdmission(request, core_->admission_limits());  // fixed at creation: thread-safe
}

void Engine::Cancel(RequestStream& stream) {
  stream.Cancel();
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancel_pending_ = true;
  }
  cv_.notify_all();
}

EngineStats Engine::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Engine::Loop() {
  std::deque<Pending> batch;
  for (;;) {
    bool cancel = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !inbox_.empty() || cancel_pending_ || core_->HasWork(); });
      if (stop_) break;
      batch.swap(inbox_);
      cancel = cancel_pending_;
      cancel_pending_ = false;
    }
    for (Pending& p : batch) core_->AddRequest(std::move(p.stream), std::move(p.request));
    batch.clear();
    if (cancel) core_->AbortCancelled();
    if (core_->HasWork()) {
      Status s = core_->Step();
      if (!s.ok()) {
        WEFT_LOG_ERROR("engine step failed, aborting the requests in flight: {}", s.message());
        core_->AbortAll(RequestFinish::kError, s.message());
      }
    }
    EngineStats stats = core_->Stats();
    if (stats.kv_usage > 0) {
      waste_sum_ += stats.kv_waste;
      ++waste_steps_;
    }
    stats.kv_waste_mean = waste_steps_ > 0 ? waste_sum_ / static_cast<double>(waste_steps_) : 0.0;
    std::lock_guard<std::mutex> lock(mu_);
    stats_ = stats;
  }
  core_->AbortAll(RequestFinish::kAbort, "the engine shut down");
}

}  // namespace weft
