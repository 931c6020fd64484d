// GgufBuilder: writes GGUF bytes for tests, including deliberately corrupt ones
// (lying counts, bad versions, offsets past the end). Test-only.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace weft::testing {

// Little-endian byte sink.
class ByteWriter {
 public:
  void U8(uint8_t v) { bytes_.push_back(v); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void I32(int32_t v) { Raw(&v, 4); }
  void F32(float v) { Raw(&v, 4); }
  void F64(double v) { Raw(&v, 8); }
  void Str(const std::string& s) {
    U64(s.size());
    Raw(s.data(), s.size());
  }
  void Raw(const void* p, size_t n) {
    if (n == 0) return;
    const size_t old = bytes_.size();
    bytes_.resize(old + n);
    std::memcpy(bytes_.data() + old, p, n);
  }
  void PadTo(size_t alignment) {
    while (bytes_.size() % alignment) bytes_.push_back(0);
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

class GgufBuilder {
 public:
  uint32_t version = 3;
  uint32_t alignment = 32;                // data section alignment used when writing
  std::optional<uint64_t> n_tensors_override;  // write this count instead of the real one
  std::optional<uint64_t> n_kv_override;

  // Metadata values: `type` is the GGUF value type id, `encoded` its bytes.
  void AddRawKv(const std::string& key, uint32_t type, std::vector<uint8_t> encoded);
  void AddU32(const std::string& key, uint32_t v);
  void AddI32(const std::string& key, int32_t v);
  void AddU64(const std::string& key, uint64_t v);
  void AddF32(const std::string& key, float v);
  void AddF64(const std::string& key, double v);
  void AddBool(const std::string& key, bool v);
  void AddString(const std::string& key, const std::string& v);
  void AddStringArray(const std::string& key, const std::vector<std::string>& v);
  void AddI32Array(const std::string& key, const std::vector<int32_t>& v);
  void AddF32Array(const std::string& key, const std::vector<float>& v);

  // A tensor: dims in GGUF order, type id, payload. offset_override replaces the
  // computed data offset.
  void AddTensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type_id, std::vector<uint8_t> data,
                 std::optional<uint64_t> offset_override = std::nullopt);

  // Adds the llama.* keys of a tiny llama (embd 8, 1 layer, 2 heads, ff 16, vocab 4)
  // and its F32 tensors, so the result opens as a model.
  void AddTinyLlama();

  std::vector<uint8_t> Build() const;

 private:
  struct Kv {
    std::string key;
    uint32_t type;
    std::vector<uint8_t> encoded;
  };
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type_id;
    std::vector<uint8_t> data;
    std::optional<uint64_t> offset_override;
  };
  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
};

// Writes bytes to a fresh file under the test's temp dir; returns its path.
std::string WriteTempFile(const std::string& name, const std::vector<uint8_t>& bytes);

}  // namespace weft::testing
