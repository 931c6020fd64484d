// llamacpp_logits: llama.cpp's logits for a token sequence, as a WGLD v2 file
// (../shared/golden/README.md), so that weft can be compared with a second, independent
// implementation. Built outside the repo against a llama.cpp checkout by
// bench/reference/build_llamacpp_logits.sh; never part of weft's build.
//
//   llamacpp_logits MODEL.gguf IDS.txt OUT.logits
//
// The whole sequence is decoded in one batch from position 0 with logits at every
// position (no BOS added), on the CPU, F16 KV cache (llama.cpp's default).
#include <cstdio>
#include <cstdint>
#include <fstream>
#include <vector>

#include "llama.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s MODEL.gguf IDS.txt OUT.logits\n", argv[0]);
    return 2;
  }
  std::vector<int32_t> ids;
  std::ifstream in(argv[2]);
  for (int32_t id; in >> id;) ids.push_back(id);
  if (ids.empty()) {
    std::fprintf(stderr, "%s: no token ids\n", argv[2]);
    return 1;
  }
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (model == nullptr) return 1;
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(ids.size() + 16);
  cp.n_batch = cp.n_ctx;
  cp.n_ubatch = cp.n_ctx;
  cp.n_threads = 2;
  cp.n_threads_batch = 2;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (ctx == nullptr) return 1;
  const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  llama_batch batch = llama_batch_init(static_cast<int32_t>(ids.size()), 0, 1);
  for (size_t i = 0; i < ids.size(); ++i) {
    batch.token[i] = ids[i];
    batch.pos[i] = static_cast<llama_pos>(i);
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = static_cast<int32_t>(ids.size());
  if (llama_decode(ctx, batch) != 0) {
    std::fprintf(stderr, "llama_decode failed\n");
    return 1;
  }
  std::FILE* out = std::fopen(argv[3], "wb");
  if (out == nullptr) return 1;
  const uint32_t header[5] = {0x444C4757u, 2u, static_cast<uint32_t>(n_vocab), static_cast<uint32_t>(ids.size()),
                              static_cast<uint32_t>(ids.size())};
  std::fwrite(header, sizeof(header), 1, out);
  for (int32_t id : ids) {
    const uint32_t u = static_cast<uint32_t>(id);
    std::fwrite(&u, 4, 1, out);
  }
  for (uint32_t i = 0; i < ids.size(); ++i) std::fwrite(&i, 4, 1, out);
  for (size_t i = 0; i < ids.size(); ++i) {
    std::fwrite(llama_get_logits_ith(ctx, static_cast<int32_t>(i)), sizeof(float), static_cast<size_t>(n_vocab), out);
  }
  std::fclose(out);
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
