#include "quant/imatrix_file.h"

#include <fmt/format.h>

#include <cstring>
#include <fstream>

namespace weft::quant {
namespace {

class Reader {
 public:
  explicit Reader(std::ifstream& in) : in_(in) {}
  bool Int(int32_t* v) { return Bytes(v, sizeof(*v)); }
  bool Bytes(void* dst, size_t n) {
    in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    return static_cast<size_t>(in_.gcount()) == n;
  }

 private:
  std::ifstream& in_;
};

}  // namespace

std::vector<float> Imatrix::Weights(const std::string& name) const {
  auto it = entries.find(name);
  if (it == entries.end()) return {};
  std::vector<float> w = it->second.values;
  if (it->second.ncall > 0) {
    for (float& v : w) v /= static_cast<float>(it->second.ncall);
  }
  return w;
}

StatusOr<Imatrix> ReadImatrix(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(path + ": cannot open the importance matrix");
  Reader r(in);
  auto bad = [&](const std::string& what) { return DataLossError(fmt::format("{}: not an imatrix file: {}", path, what)); };
  int32_t n = 0;
  if (!r.Int(&n) || n < 1) return bad("no entries");
  Imatrix m;
  for (int32_t i = 0; i < n; ++i) {
    int32_t len = 0;
    if (!r.Int(&len) || len < 1 || len > 4096) return bad(fmt::format("entry {}: bad name length", i));
    std::string name(static_cast<size_t>(len), '\0');
    if (!r.Bytes(name.data(), name.size())) return bad(fmt::format("entry {}: truncated name", i));
    ImatrixEntry e;
    int32_t nval = 0;
    if (!r.Int(&e.ncall) || !r.Int(&nval) || nval < 1) return bad(fmt::format("{}: bad value count", name));
    e.values.resize(static_cast<size_t>(nval));
    if (!r.Bytes(e.values.data(), e.values.size() * sizeof(float))) return bad(fmt::format("{}: truncated values", name));
    m.entries[name] = std::move(e);
  }
  int32_t chunks = 0, len = 0;
  if (r.Int(&chunks)) {
    m.chunks = chunks;
    if (r.Int(&len) && len > 0 && len < (1 << 20)) {
      m.dataset.resize(static_cast<size_t>(len));
      if (!r.Bytes(m.dataset.data(), m.dataset.size())) m.dataset.clear();
    }
  }
  return m;
}

Status WriteImatrix(const Imatrix& m, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return InvalidArgumentError(path + ": cannot write the importance matrix");
  auto put = [&](int32_t v) { out.write(reinterpret_cast<const char*>(&v), sizeof(v)); };
  put(static_cast<int32_t>(m.entries.size()));
  for (const auto& [name, e] : m.entries) {
    put(static_cast<int32_t>(name.size()));
    out.write(name.data(), static_cast<std::streamsize>(name.size()));
    put(e.ncall);
    put(static_cast<int32_t>(e.values.size()));
    out.write(reinterpret_cast<const char*>(e.values.data()), static_cast<std::streamsize>(e.values.size() * sizeof(float)));
  }
  put(m.chunks);
  put(static_cast<int32_t>(m.dataset.size()));
  out.write(m.dataset.data(), static_cast<std::streamsize>(m.dataset.size()));
  out.close();
  if (!out) return InternalError(path + ": write failed");
  return Status::Ok();
}

}  // namespace weft::quant
