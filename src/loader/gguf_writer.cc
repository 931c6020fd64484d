#include "loader/gguf_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace weft {
namespace {

uint64_t AlignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

class Encoder {
 public:
  std::vector<uint8_t> bytes;
  template <typename T>
  void Put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof(T));
  }
  void PutString(const std::string& s) {
    Put<uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  // One scalar of type t from an integer / float / bool value.
  void PutScalar(GgufType t, int64_t i, double f) {
    switch (t) {
      case GgufType::kUint8: Put<uint8_t>(static_cast<uint8_t>(i)); break;
      case GgufType::kInt8: Put<int8_t>(static_cast<int8_t>(i)); break;
      case GgufType::kUint16: Put<uint16_t>(static_cast<uint16_t>(i)); break;
      case GgufType::kInt16: Put<int16_t>(static_cast<int16_t>(i)); break;
      case GgufType::kUint32: Put<uint32_t>(static_cast<uint32_t>(i)); break;
      case GgufType::kInt32: Put<int32_t>(static_cast<int32_t>(i)); break;
      case GgufType::kUint64: Put<uint64_t>(static_cast<uint64_t>(i)); break;
      case GgufType::kInt64: Put<int64_t>(i); break;
      case GgufType::kBool: Put<uint8_t>(i != 0 ? 1 : 0); break;
      case GgufType::kFloat32: Put<float>(static_cast<float>(f)); break;
      case GgufType::kFloat64: Put<double>(f); break;
      default: break;
    }
  }
  void PutValue(const GgufValue& v) {
    Put<uint32_t>(static_cast<uint32_t>(v.type));
    if (v.type == GgufType::kString) {
      PutString(std::get<std::string>(v.value));
    } else if (v.type == GgufType::kArray) {
      const auto& a = std::get<GgufArray>(v.value);
      Put<uint32_t>(static_cast<uint32_t>(a.elem_type));
      Put<uint64_t>(a.size);
      if (a.elem_type == GgufType::kString) {
        for (const auto& s : a.strings) PutString(s);
      } else if (a.elem_type == GgufType::kFloat32 || a.elem_type == GgufType::kFloat64) {
        for (double f : a.floats) PutScalar(a.elem_type, 0, f);
      } else {
        for (int64_t i : a.ints) PutScalar(a.elem_type, i, 0.0);
      }
    } else if (const auto* u = std::get_if<uint64_t>(&v.value)) {
      Put<uint64_t>(*u);
    } else if (const auto* i = std::get_if<int64_t>(&v.value)) {
      PutScalar(v.type, *i, 0.0);
    } else if (const auto* b = std::get_if<bool>(&v.value)) {
      PutScalar(v.type, *b ? 1 : 0, 0.0);
    } else if (const auto* f = std::get_if<double>(&v.value)) {
      PutScalar(v.type, 0, *f);
    }
  }
};

}  // namespace

GgufWriter::~GgufWriter() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(tmp_path_.c_str());
  }
}

Status GgufWriter::SetValue(const std::string& key, GgufValue value) {
  if (value.type == GgufType::kArray) {
    const auto& a = std::get<GgufArray>(value.value);
    if (a.elem_type == GgufType::kArray) {
      return UnimplementedError(fmt::format("metadata key '{}': arrays of arrays cannot be written", key));
    }
    const size_t kept = a.elem_type == GgufType::kString ? a.strings.size()
                        : (a.elem_type == GgufType::kFloat32 || a.elem_type == GgufType::kFloat64) ? a.floats.size()
                                                                                                     : a.ints.size();
    if (kept != a.size) {
      return InternalError(fmt::format("metadata key '{}': array of {} holds {} values", key, a.size, kept));
    }
  }
  metadata_[key] = std::move(value);
  return Status::Ok();
}

void GgufWriter::SetU32(const std::string& key, uint32_t v) {
  GgufValue value;
  value.type = GgufType::kUint32;
  value.value = static_cast<int64_t>(v);
  metadata_[key] = std::move(value);
}

void GgufWriter::SetString(const std::string& key, std::string v) {
  GgufValue value;
  value.type = GgufType::kString;
  value.value = std::move(v);
  metadata_[key] = std::move(value);
}

StatusOr<size_t> GgufWriter::AddTensor(const std::string& name, DType type, int n_dims,
                                       const std::array<int64_t, 4>& ne) {
  if (file_ != nullptr) return FailedPreconditionError("GgufWriter: AddTensor after Open");
  if (n_dims < 1 || n_dims > 4) return InvalidArgumentError(fmt::format("tensor '{}': {} dimensions", name, n_dims));
  const DTypeInfo& info = GetDTypeInfo(type);
  if (ne[0] % info.block_size != 0) {
    return InvalidArgumentError(fmt::format("tensor '{}': row of {} is not a whole number of {} blocks of {}", name,
                                            ne[0], info.name, info.block_size));
  }
  int64_t n = 1;
  for (int d = 0; d < 4; ++d) n *= ne[d];
  Tensor t{name, type, n_dims, ne, data_bytes_, BytesForElements(type, n)};
  data_bytes_ = AlignUp(t.offset + t.nbytes, alignment_);
  tensors_.push_back(std::move(t));
  return tensors_.size() - 1;
}

std::vector<uint8_t> GgufWriter::EncodeHeader() const {
  Encoder e;
  e.Put<uint32_t>(0x46554747u);  // "GGUF"
  e.Put<uint32_t>(3);
  e.Put<uint64_t>(tensors_.size());
  e.Put<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    e.PutString(key);
    e.PutValue(value);
  }
  for (const Tensor& t : tensors_) {
    e.PutString(t.name);
    e.Put<uint32_t>(static_cast<uint32_t>(t.n_dims));
    for (int d = 0; d < t.n_dims; ++d) e.Put<uint64_t>(static_cast<uint64_t>(t.ne[d]));
    e.Put<uint32_t>(static_cast<uint32_t>(t.type));
    e.Put<uint64_t>(t.offset);
  }
  return std::move(e.bytes);
}

uint64_t GgufWriter::FileBytes() const { return AlignUp(EncodeHeader().size(), alignment_) + data_bytes_; }

Status GgufWriter::WriteBytes(const void* p, size_t n) {
  if (n != 0 && std::fwrite(p, 1, n, file_) != n) {
    return UnavailableError(fmt::format("{}: write failed: {}", tmp_path_, std::strerror(errno)));
  }
  return Status::Ok();
}

Status GgufWriter::WriteZeros(uint64_t n) {
  static const uint8_t kZeros[256] = {};
  while (n > 0) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n, sizeof(kZeros)));
    WEFT_RETURN_IF_ERROR(WriteBytes(kZeros, k));
    n -= k;
  }
  return Status::Ok();
}

Status GgufWriter::Open(const std::string& path) {
  if (file_ != nullptr) return FailedPreconditionError("GgufWriter: opened twice");
  path_ = path;
  tmp_path_ = path + ".tmp";
  file_ = std::fopen(tmp_path_.c_str(), "wb");
  if (file_ == nullptr) return UnavailableError(fmt::format("{}: cannot create: {}", tmp_path_, std::strerror(errno)));
  const std::vector<uint8_t> header = EncodeHeader();
  WEFT_RETURN_IF_ERROR(WriteBytes(header.data(), header.size()));
  return WriteZeros(AlignUp(header.size(), alignment_) - header.size());
}

Status GgufWriter::WriteTensor(size_t index, std::span<const uint8_t> bytes) {
  if (file_ == nullptr) return FailedPreconditionError("GgufWriter: WriteTensor before Open");
  if (index != next_tensor_ || index >= tensors_.size()) {
    return InternalError(fmt::format("GgufWriter: tensor {} written out of order (next is {})", index, next_tensor_));
  }
  const Tensor& t = tensors_[index];
  if (bytes.size() != t.nbytes) {
    return InternalError(fmt::format("GgufWriter: tensor '{}' has {} bytes, not {}", t.name, bytes.size(), t.nbytes));
  }
  WEFT_RETURN_IF_ERROR(WriteZeros(t.offset - data_written_));
  WEFT_RETURN_IF_ERROR(WriteBytes(bytes.data(), bytes.size()));
  data_written_ = t.offset + t.nbytes;
  ++next_tensor_;
  return Status::Ok();
}

Status GgufWriter::Finish() {
  if (file_ == nullptr) return FailedPreconditionError("GgufWriter: Finish before Open");
  if (next_tensor_ != tensors_.size()) {
    return InternalError(fmt::format("GgufWriter: {} of {} tensors written", next_tensor_, tensors_.size()));
  }
  WEFT_RETURN_IF_ERROR(WriteZeros(data_bytes_ - data_written_));
  const bool flushed = std::fflush(file_) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!flushed || !closed) {
    std::remove(tmp_path_.c_str());
    return UnavailableError(fmt::format("{}: write failed: {}", tmp_path_, std::strerror(errno)));
  }
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    std::remove(tmp_path_.c_str());
    return UnavailableError(fmt::format("cannot rename {} to {}: {}", tmp_path_, path_, err));
  }
  return Status::Ok();
}

}  // namespace weft
