// GgufWriter: writes a GGUF (version 3) file in one sequential pass, so that tensor data
// can be streamed tensor by tensor without holding the whole model in memory:
//   1. SetValue / Remove metadata, AddTensor for every tensor (name, type, shape): this
//      fixes each tensor's offset in the data section (aligned to `alignment`).
//   2. Open(path): writes the header, metadata and tensor infos to `path`.tmp.
//   3. WriteTensor(i, bytes) for i = 0, 1, ... in order (each exactly the tensor's size).
//   4. Finish(): pads, flushes, renames `path`.tmp to `path`. A writer destroyed before
//      Finish removes the partial file.
// Metadata is written in key order (std::map); arrays of arrays cannot be written
// (GgufFile does not keep their contents) and are refused at SetValue.
// Thread-safety: one thread.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "loader/gguf.h"
#include "tensor/dtype.h"
#include "weft/status.h"

namespace weft {

class GgufWriter {
 public:
  explicit GgufWriter(uint64_t alignment = 32) : alignment_(alignment) {}
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  Status SetValue(const std::string& key, GgufValue value);
  void SetU32(const std::string& key, uint32_t v);
  void SetString(const std::string& key, std::string v);
  void Remove(const std::string& key) { metadata_.erase(key); }
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }

  // ne in GGUF order (ne[0] innermost); n_dims 1..4. ne[0] must be a multiple of the
  // type's block size. Returns the tensor's index.
  StatusOr<size_t> AddTensor(const std::string& name, DType type, int n_dims, const std::array<int64_t, 4>& ne);
  size_t num_tensors() const { return tensors_.size(); }
  uint64_t TensorBytes(size_t i) const { return tensors_[i].nbytes; }
  // Total file size once finished.
  uint64_t FileBytes() const;

  Status Open(const std::string& path);
  Status WriteTensor(size_t index, std::span<const uint8_t> bytes);
  Status Finish();

 private:
  struct Tensor {
    std::string name;
    DType type;
    int n_dims;
    std::array<int64_t, 4> ne;
    uint64_t offset;
    uint64_t nbytes;
  };
  Status WriteBytes(const void* p, size_t n);
  Status WriteZeros(uint64_t n);
  std::vector<uint8_t> EncodeHeader() const;

  uint64_t alignment_;
  std::map<std::string, GgufValue> metadata_;
  std::vector<Tensor> tensors_;
  uint64_t data_bytes_ = 0;  // data section size so far (aligned end of the last tensor)
  std::string path_, tmp_path_;
  std::FILE* file_ = nullptr;
  size_t next_tensor_ = 0;
  uint64_t data_written_ = 0;
};

}  // namespace weft
