#include "eval/logits_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "base/mapped_file.h"

namespace weft {
namespace {
constexpr uint32_t kMagic = 0x444c4757;  // "WGLD"
constexpr uint32_t kVersion = 2;

size_t ArgMax(const float* row, uint32_t n) {
  return static_cast<size_t>(std::max_element(row, row + n) - row);
}
}  // namespace

StatusOr<LogitsFile> ReadLogitsFile(const std::string& path) {
  WEFT_ASSIGN_OR_RETURN(auto mapping, MappedFile::Open(path));
  const uint8_t* p = mapping->data();
  const uint64_t size = mapping->size();
  uint64_t pos = 0;
  auto read_u32s = [&](uint32_t* out, uint64_t n, const char* what) -> Status {
    if (n > (size - pos) / 4) {
      return DataLossError(fmt::format("{}: truncated: {} needs {} bytes at offset {} (file is {} bytes)", path, what,
                                       n * 4, pos, size));
    }
    std::memcpy(out, p + pos, n * 4);
    pos += n * 4;
    return Status::Ok();
  };
  uint32_t header[5];
  WEFT_RETURN_IF_ERROR(read_u32s(header, 5, "the header"));
  if (header[0] != kMagic) return DataLossError(fmt::format("{}: not a WGLD logits file (bad magic)", path));
  if (header[1] != kVersion) {
    return UnimplementedError(fmt::format("{}: WGLD version {} (weft reads version 2)", path, header[1]));
  }
  LogitsFile f;
  f.n_vocab = header[2];
  f.tokens.resize(header[3]);
  f.keep.resize(header[4]);
  WEFT_RETURN_IF_ERROR(read_u32s(f.tokens.data(), f.tokens.size(), "tokens"));
  WEFT_RETURN_IF_ERROR(read_u32s(f.keep.data(), f.keep.size(), "positions"));
  for (uint32_t k : f.keep) {
    if (k >= f.tokens.size()) {
      return DataLossError(fmt::format("{}: kept position {} is past the {} tokens", path, k, f.tokens.size()));
    }
  }
  const uint64_t n_logits = static_cast<uint64_t>(f.keep.size()) * f.n_vocab;
  if (n_logits != (size - pos) / 4 || (size - pos) % 4 != 0) {
    return DataLossError(fmt::format("{}: expected {} logits after the header, found {} bytes", path, n_logits,
                                     size - pos));
  }
  f.logits.resize(n_logits);
  std::memcpy(f.logits.data(), p + pos, n_logits * 4);
  return f;
}

Status WriteLogitsFile(const std::string& path, const LogitsFile& f) {
  if (f.logits.size() != f.keep.size() * static_cast<size_t>(f.n_vocab)) {
    return InvalidArgumentError("logits size does not match positions x vocab");
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return InvalidArgumentError(fmt::format("{}: cannot open for writing", path));
  const uint32_t header[5] = {kMagic, kVersion, f.n_vocab, static_cast<uint32_t>(f.tokens.size()),
                              static_cast<uint32_t>(f.keep.size())};
  out.write(reinterpret_cast<const char*>(header), sizeof(header));
  out.write(reinterpret_cast<const char*>(f.tokens.data()), static_cast<std::streamsize>(f.tokens.size() * 4));
  out.write(reinterpret_cast<const char*>(f.keep.data()), static_cast<std::streamsize>(f.keep.size() * 4));
  out.write(reinterpret_cast<const char*>(f.logits.data()), static_cast<std::streamsize>(f.logits.size() * 4));
  if (!out) return DataLossError(fmt::format("{}: write failed", path));
  return Status::Ok();
}

StatusOr<LogitsDistance> CompareLogits(const LogitsFile& a, const LogitsFile& b) {
  if (a.n_vocab != b.n_vocab || a.tokens != b.tokens || a.keep != b.keep) {
    return InvalidArgumentError(fmt::format(
        "logits files differ in shape: vocab {} vs {}, {} vs {} tokens, {} vs {} positions (or different ids)",
        a.n_vocab, b.n_vocab, a.tokens.size(), b.tokens.size(), a.keep.size(), b.keep.size()));
  }
  LogitsDistance d;
  double sum_sq = 0;
  for (size_t i = 0; i < a.logits.size(); ++i) {
    const double diff = static_cast<double>(a.logits[i]) - b.logits[i];
    sum_sq += diff * diff;
    d.max_abs = std::max(d.max_abs, std::fabs(diff));
  }
  d.rms = a.logits.empty() ? 0.0 : std::sqrt(sum_sq / static_cast<double>(a.logits.size()));
  d.positions = static_cast<int>(a.keep.size());
  for (size_t r = 0; r < a.keep.size(); ++r) {
    d.top1_agree += ArgMax(a.Row(r), a.n_vocab) == ArgMax(b.Row(r), b.n_vocab) ? 1 : 0;
  }
  return d;
}

}  // namespace weft
