// The public engine API: what a front end (weft's server and CLI, or a program linking
// weft) needs to load a model of any architecture weft runs and generate with it.
//
//   auto model  = weft::OpenModel("tinyllama-v0");          // name, path, dir or hf:repo
//   auto engine = weft::OpenEngine(*model, weft::EngineConfig{});
//   weft::GenerationRequest req;
//   req.prompt_tokens = model->tokenizer->Encode("Once upon a time");
//   req.sampling.max_tokens = 32;
//   auto stream = (*engine)->Submit(std::move(req));       // 400-class errors here
//   while (auto out = (*stream)->Next()) fmt::print("{}", out->text_delta);
//
// Types: Engine, GenerationRequest, RequestStream / RequestOutput and EngineStats are
// declared in the headers included below (engine/engine.h and what it includes), and are
// part of this API; EngineConfig holds the engine's knobs.
// Thread-safety: OpenModel and OpenEngine may be called from any thread; an OpenedModel
// is immutable and may back several engines; see engine/engine.h for the Engine.
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/engine_config.h"
#include "loader/model_file.h"
#include "model/bind_options.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "weft/status.h"

namespace weft {

struct OpenModelOptions {
  bool load_tokenizer = true;  // false: weights only (kernel benchmarks, logits dumps)
  BindOptions bind;
};

// A model file opened and bound by its architecture, with its tokenizer.
// Ownership: shares everything it holds; copies are cheap.
struct OpenedModel {
  std::string path;                            // the resolved file or directory
  std::shared_ptr<const ModelFile> file;
  std::shared_ptr<const Model> model;
  std::shared_ptr<const Tokenizer> tokenizer;  // null when !load_tokenizer
};

// Resolves `spec` (a path, a name under WEFT_MODEL_PATH / ../shared/models, a Hugging
// Face directory or hf:owner/repo; loader/model_source.h), opens the file, binds its
// weights with the architecture the registry names (model/model_registry.h) and loads
// the tokenizer. Errors name the file and what is wrong with it.
// Tensor parallelism (options.bind.tp_size > 1, under mpirun): on ranks other than 0 it
// does not return; the rank serves rank 0's steps (model/tp_decoder.h) and then exits
// the process (0 when rank 0 stopped it cleanly).
StatusOr<OpenedModel> OpenModel(const std::string& spec, const OpenModelOptions& options = {});

// An engine (its own thread, KV cache and scheduler) over an opened model; the model
// must have its tokenizer.
StatusOr<std::unique_ptr<Engine>> OpenEngine(const OpenedModel& model, const EngineConfig& config);

}  // namespace weft
