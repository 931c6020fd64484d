// Engine: the thread-safe front of the engine. Submit() validates a request and hands
// it to the engine thread through one queue; the caller reads the outputs from the
// returned RequestStream (or cancels it). One engine thread runs EngineCore's step loop.
//
//   auto engine = Engine::Create(config, model, tokenizer);   // or OpenEngine (weft/engine.h)
//   auto stream = engine->Submit(request);             // 400-class errors here
//   while (auto out = stream->Next()) { ... out->text_delta ... }
//
// Thread-safety: Submit, Cancel and Stats may be called from any thread. Destroying the
// Engine aborts the requests still in flight (their streams finish with kAbort).
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/engine_core.h"

namespace weft {

class Engine {
 public:
  static StatusOr<std::unique_ptr<Engine>> Create(const EngineConfig& config,
                                                  std::shared_ptr<const Model> model,
                                                  std::shared_ptr<const Tokenizer> tokenizer);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Admits and queues a request. A request that can never be served (see CheckAdmission
  // in engine/admission.h: bad sampling parameters, a prompt longer than the context or
  // the KV cache, n over the sequence cap, ...) gets InvalidArgument / OutOfRange naming
  // the field (Status::field()); nothing is queued then.
  StatusOr<std::shared_ptr<RequestStream>> Submit(GenerationRequest request);
  // The admission check alone (what Submit runs first), for a front end that must admit
  // several requests before submitting any of them.
  Status CheckAdmission(const GenerationRequest& request) const;
  // Aborts the request; its stream finishes with kAbort and its KV blocks are free at
  // the engine's next step.
  void Cancel(RequestStream& stream);

  EngineStats Stats() const;
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const std::shared_ptr<const Tokenizer>& shared_tokenizer() const { return tokenizer_; }
  const ModelConfig& model_config() const { return core_->model_config(); }
  int32_t max_model_len() const { return core_->max_model_len(); }
  const char* isa_name() const { return core_->isa_name(); }

 private:
  Engine(std::unique_ptr<EngineCore> core, std::shared_ptr<const Tokenizer> tokenizer);
  void Loop();

  std::unique_ptr<EngineCore> core_;  // touched only by the engine thread after start
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  struct Pending {
    std::shared_ptr<RequestStream> stream;
    GenerationRequest request;
  };
  std::deque<Pending> inbox_;      // guarded by mu_
  bool cancel_pending_ = false;    // guarded by mu_: a stream was cancelled
  bool stop_ = false;              // guarded by mu_
  uint64_t next_id_ = 1;           // guarded by mu_
  EngineStats stats_;              // guarded by mu_: snapshot after each step
  double waste_sum_ = 0;           // engine thread: kv_waste summed over steps with blocks
  int64_t waste_steps_ = 0;
};

}  // namespace weft
