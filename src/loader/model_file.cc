#include "loader/model_file.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>

#include "loader/gguf.h"

namespace weft {

std::string_view ModelFormatName(ModelFormat f) {
  switch (f) {
    case ModelFormat::kGguf: return "GGUF";
    case ModelFormat::kSafetensors: return "safetensors";
    case ModelFormat::kLlama2c: return "llama2.c";
  }
  return "unknown";
}

ModelFile::ModelFile(Parts parts)
    : format_(parts.format),
      path_(std::move(parts.path)),
      file_bytes_(parts.file_bytes),
      config_(std::move(parts.config)),
      tokenizer_(std::move(parts.tokenizer)),
      tensors_(std::move(parts.tensors)),
      keep_alive_(std::move(parts.keep_alive)),
      mappings_(std::move(parts.mappings)),
      gguf_(std::move(parts.gguf)) {}

size_t ModelFile::ReleaseMappedPages(const TensorView& t) const {
  size_t released = 0;
  for (const auto& m : mappings_) released += m->ReleasePages(t.data, t.nbytes);
  return released;
}

const TensorView* ModelFile::FindTensor(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

StatusOr<std::shared_ptr<const ModelFile>> OpenModelFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return NotFoundError(fmt::format("{}: no such file or directory", path));
  }
  if (S_ISDIR(st.st_mode)) return OpenSafetensorsModel(path);

  // Decide by content, not by name.
  char head[8] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(head, sizeof(head));
  const auto got = in.gcount();
  if (got >= 4 && std::memcmp(head, "GGUF", 4) == 0) return OpenGgufModel(path);
  if (got >= 4 && std::memcmp(head, "GGML", 4) == 0) {
    return UnimplementedError(fmt::format("{}: this is a legacy GGML/GGJT file; convert it to GGUF with llama.cpp", path));
  }
  if (got == 8) {
    // safetensors starts with a little-endian u64 header length followed by '{'.
    uint64_t header_len = 0;
    std::memcpy(&header_len, head, 8);
    char brace = 0;
    in.read(&brace, 1);
    if (in.gcount() == 1 && brace == '{' && header_len > 1 && header_len < static_cast<uint64_t>(st.st_size)) {
      return OpenSafetensorsModel(path);
    }
  }
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".bin") == 0) return OpenLlama2cModel(path);
  return InvalidArgumentError(fmt::format(
      "{}: not a model file weft knows (GGUF, safetensors, or a llama2.c .bin checkpoint)", path));
}

}  // namespace weft
