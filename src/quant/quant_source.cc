#include "quant/quant_source.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "base/mapped_file.h"
#include "loader/hf_model.h"
#include "loader/rope_freq_factors.h"
#include "quant/hf_gguf_metadata.h"

namespace weft::quant {
namespace {

namespace fs = std::filesystem;

// A regular file that starts with the GGUF magic; a missing file counts as GGUF so that
// the GGUF reader names the error.
bool LooksLikeGguf(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return true;
  if (fs::is_directory(path, ec)) return false;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return true;
  char magic[4] = {};
  const bool ok = std::fread(magic, 1, 4, f) == 4 && std::memcmp(magic, "GGUF", 4) == 0;
  std::fclose(f);
  return ok;
}

StatusOr<QuantSource> OpenGguf(const std::string& path) {
  WEFT_ASSIGN_OR_RETURN(const std::shared_ptr<const GgufFile> in, OpenGgufFile(path));
  QuantSource s;
  s.format = QuantSource::Format::kGguf;
  s.metadata = in->metadata();
  s.tensors = in->tensors();
  s.interleave_head_rows.assign(s.tensors.size(), 0);
  s.release_pages = [in](const TensorView& t) {
    if (in->mapping() != nullptr) in->mapping()->ReleasePages(t.data, t.nbytes);
  };
  s.owner = in;
  return s;
}

StatusOr<QuantSource> OpenHf(const std::string& path) {
  WEFT_ASSIGN_OR_RETURN(const std::shared_ptr<const ModelFile> hf, OpenSafetensorsModelAs(path, HfQkRows::kAsStored));
  std::error_code ec;
  const fs::path dir = fs::is_directory(path, ec) ? fs::path(path) : fs::path(path).parent_path();
  const fs::path full = fs::absolute(dir, ec).lexically_normal();
  std::string name = full.filename().string();
  if (name.empty()) name = full.parent_path().filename().string();  // "dir/" ends in an empty name
  QuantSource s;
  s.format = QuantSource::Format::kHuggingFace;
  WEFT_ASSIGN_OR_RETURN(s.metadata, GgufMetadataForHf(*hf, name));
  s.tensors = hf->tensors();
  for (const TensorView& t : s.tensors) {
    WEFT_ASSIGN_OR_RETURN(const int64_t head_rows, RopeInterleaveHeadRows(hf->config(), t));
    s.interleave_head_rows.push_back(head_rows);
  }
  // Llama 3.1's "llama3" rope scaling: GGUF carries its per-pair divisors as the tensor
  // rope_freqs.weight (F32 [rope_dim / 2]), computed from config.json as the converter does.
  struct Owned {
    std::shared_ptr<const ModelFile> hf;
    std::vector<float> rope_freqs;
  };
  auto owned = std::make_shared<Owned>();
  owned->hf = hf;
  const ModelConfig& c = hf->config();
  if (c.rope_scaling.type == RopeScalingType::kLlama3) {
    owned->rope_freqs = Llama3RopeFreqFactors(c.rope_scaling, static_cast<int>(c.rope_dim), c.rope_theta);
    TensorView f;
    f.name = "rope_freqs.weight";
    f.type = DType::kF32;
    f.n_dims = 1;
    f.ne = {static_cast<int64_t>(owned->rope_freqs.size()), 1, 1, 1};
    f.data = reinterpret_cast<const uint8_t*>(owned->rope_freqs.data());
    f.nbytes = owned->rope_freqs.size() * sizeof(float);
    s.tensors.push_back(f);
    s.interleave_head_rows.push_back(0);
  }
  s.release_pages = [hf](const TensorView& t) { hf->ReleaseMappedPages(t); };
  s.owner = owned;
  return s;
}

}  // namespace

StatusOr<QuantSource> OpenQuantSource(const std::string& path) {
  if (LooksLikeGguf(path)) return OpenGguf(path);
  StatusOr<QuantSource> s = OpenHf(path);
  if (!s.ok()) {
    return Status(s.status().code(),
                  fmt::format("{} (weft quantize reads a GGUF file, a Hugging Face model directory with config.json, "
                              "tokenizer.json and *.safetensors, or a .safetensors file beside its config.json)",
                              s.status().message()));
  }
  return s;
}

}  // namespace weft::quant
