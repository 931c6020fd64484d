// OpenLlama2cModel: karpathy's llama2.c legacy ("version 0") checkpoint:
//   int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
//   (vocab_size < 0: the classifier is stored separately at the end, i.e. untied)
// then f32 arrays, each [outer..][inner] row-major:
//   token_embedding [vocab][dim]      rms_att [L][dim]
//   wq [L][dim][dim]  wk [L][kv_dim][dim]  wv [L][kv_dim][dim]  wo [L][dim][dim]
//   rms_ffn [L][dim]  w1 [L][hidden][dim]  w2 [L][dim][hidden]  w3 [L][hidden][dim]
//   rms_final [dim]   freq_cis_real [seq_len][head_size/2]  freq_cis_imag [same]
//   wcls [vocab][dim] (only when unshared)
// w1 is the gate, w3 the up projection, w2 the down projection. q/k rows are in the
// interleaved RoPE layout (llama2.c rotates pairs (2i, 2i+1)). Views are zero-copy.
#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "base/check.h"
#include "base/mapped_file.h"
#include "loader/model_file.h"
#include "loader/weight_check.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

// Header values above this are refused: it keeps every size product below int64 overflow
// and no real llama2.c model comes close.
constexpr int64_t kMaxHeaderValue = int64_t{1} << 24;

struct Llama2cHeader {
  int64_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
  bool shared_classifier;
};

StatusOr<Llama2cHeader> ParseHeader(const MappedFile& file) {
  const std::string& path = file.path();
  if (file.size() < 28) {
    return DataLossError(fmt::format("{}: file is {} bytes, too short for the 28-byte llama2.c header", path,
                                     file.size()));
  }
  int32_t raw[7];
  std::memcpy(raw, file.data(), sizeof(raw));
  if (std::memcmp(file.data(), "ak42", 4) == 0) {
    return UnimplementedError(fmt::format(
        "{}: this is a versioned llama2.c export (magic 'ak42'); only the legacy version-0 format is supported", path));
  }
  Llama2cHeader h{};
  h.shared_classifier = raw[5] > 0;
  const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  int64_t* fields[7] = {&h.dim, &h.hidden_dim, &h.n_layers, &h.n_heads, &h.n_kv_heads, &h.vocab_size, &h.seq_len};
  for (int i = 0; i < 7; ++i) {
    int64_t v = raw[i];
    if (i == 5) v = v < 0 ? -v : v;  // the sign of vocab_size only says whether wcls is stored
    if (v <= 0 || v > kMaxHeaderValue) {
      return DataLossError(fmt::format("{}: header field {} is {}, outside [1, {}]; not a llama2.c checkpoint?",
                                       path, names[i], raw[i], kMaxHeaderValue));
    }
    *fields[i] = v;
  }
  if (h.dim % h.n_heads != 0) {
    return DataLossError(fmt::format("{}: header: n_heads {} does not divide dim {}", path, h.n_heads, h.dim));
  }
  if (h.n_kv_heads > h.n_heads || h.n_heads % h.n_kv_heads != 0) {
    return DataLossError(
        fmt::format("{}: header: n_kv_heads {} does not divide n_heads {}", path, h.n_kv_heads, h.n_heads));
  }
  if ((h.dim / h.n_heads) % 2 != 0) {
    return DataLossError(fmt::format("{}: header: head size {} is odd (RoPE needs pairs)", path, h.dim / h.n_heads));
  }
  return h;
}

// Lays tensors out one after another from the end of the header.
class Cursor {
 public:
  Cursor(const MappedFile& file, ModelFile::Parts* parts) : file_(file), parts_(parts) {}

  // A tensor of `ne` (GGUF order) at the cursor; name empty = skipped (freq_cis).
  void Take(std::string name, std::initializer_list<int64_t> ne) {
    TensorView t;
    t.name = std::move(name);
    t.type = DType::kF32;
    t.n_dims = static_cast<int>(ne.size());
    int64_t n = 1;
    size_t i = 0;
    for (int64_t d : ne) {
      t.ne[i++] = d;
      n *= d;  // at most kMaxHeaderValue^2
    }
    t.nbytes = static_cast<size_t>(n) * sizeof(float);
    t.data = file_.data() + offset_;
    offset_ += t.nbytes;
    if (!t.name.empty()) parts_->tensors.push_back(std::move(t));
  }
  uint64_t offset() const { return offset_; }

 private:
  const MappedFile& file_;
  ModelFile::Parts* parts_;
  uint64_t offset_ = 28;
};

// Bytes the file must have for this header (128-bit: a hostile header overflows 64).
unsigned __int128 ExpectedBytes(const Llama2cHeader& h) {
  using u128 = unsigned __int128;
  const u128 dim = static_cast<u128>(h.dim), hidden = static_cast<u128>(h.hidden_dim);
  const u128 L = static_cast<u128>(h.n_layers), vocab = static_cast<u128>(h.vocab_size);
  const u128 kv_dim = static_cast<u128>(h.n_kv_heads * (h.dim / h.n_heads));
  const u128 head_size = static_cast<u128>(h.dim / h.n_heads);
  u128 floats = vocab * dim;                                     // token_embedding
  floats += L * (dim + dim * dim + 2 * kv_dim * dim + dim * dim);  // rms_att, wq, wk, wv, wo
  floats += L * (dim + 3 * hidden * dim);                        // rms_ffn, w1, w2, w3
  floats += dim + static_cast<u128>(h.seq_len) * head_size;      // rms_final, freq_cis real + imag
  if (!h.shared_classifier) floats += vocab * dim;               // wcls
  return 28 + floats * sizeof(float);
}

std::string FindTokenizer(const std::string& path, int64_t vocab) {
  const fs::path dir = fs::path(path).parent_path();
  for (const std::string& name : {fmt::format("tok{}.bin", vocab), std::string("tokenizer.bin")}) {
    const fs::path p = dir / name;
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return std::string();
}

}  // namespace

StatusOr<std::shared_ptr<const ModelFile>> OpenLlama2cModel(const std::string& path) {
  WEFT_ASSIGN_OR_RETURN(std::shared_ptr<const MappedFile> file, MappedFile::Open(path));
  WEFT_ASSIGN_OR_RETURN(Llama2cHeader h, ParseHeader(*file));
  const int64_t head_size = h.dim / h.n_heads;
  const int64_t kv_dim = h.n_kv_heads * head_size;

  // Check the size first, so that a hostile header cannot make us build millions of views.
  const unsigned __int128 expected = ExpectedBytes(h);
  if (expected != file->size()) {
    const std::string need = expected > UINT64_MAX ? std::string("more than 2^64")
                                                   : fmt::format("exactly {}", static_cast<uint64_t>(expected));
    return DataLossError(fmt::format(
        "{}: file is {} bytes but its header (dim {}, hidden_dim {}, n_layers {}, n_heads {}, n_kv_heads {}, "
        "vocab_size {}{}, seq_len {}) needs {} bytes{}",
        path, file->size(), h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size,
        h.shared_classifier ? "" : " (unshared classifier)", h.seq_len, need,
        expected > file->size() ? " (truncated?)" : ""));
  }

  ModelFile::Parts parts;
  parts.format = ModelFormat::kLlama2c;
  parts.path = path;
  parts.file_bytes = file->size();
  // Per-layer arrays are stored layer-major: wq for every layer, then wk for every layer...
  Cursor cur(*file, &parts);
  const int64_t L = h.n_layers;
  auto per_layer = [&](const char* name, std::initializer_list<int64_t> ne) {
    for (int64_t l = 0; l < L; ++l) cur.Take(fmt::format("blk.{}.{}", l, name), ne);
  };
  cur.Take("token_embd.weight", {h.dim, h.vocab_size});
  per_layer("attn_norm.weight", {h.dim});
  per_layer("attn_q.weight", {h.dim, h.dim});
  per_layer("attn_k.weight", {h.dim, kv_dim});
  per_layer("attn_v.weight", {h.dim, kv_dim});
  per_layer("attn_output.weight", {h.dim, h.dim});
  per_layer("ffn_norm.weight", {h.dim});
  per_layer("ffn_gate.weight", {h.dim, h.hidden_dim});
  per_layer("ffn_down.weight", {h.hidden_dim, h.dim});
  per_layer("ffn_up.weight", {h.dim, h.hidden_dim});
  cur.Take("output_norm.weight", {h.dim});
  cur.Take("", {head_size / 2, h.seq_len});  // freq_cis_real: weft computes RoPE itself
  cur.Take("", {head_size / 2, h.seq_len});  // freq_cis_imag
  if (!h.shared_classifier) cur.Take("output.weight", {h.dim, h.vocab_size});
  WEFT_CHECK(cur.offset() == file->size(), "llama2.c layout and size formula disagree");

  ModelConfig& c = parts.config;
  c.arch = "llama";
  c.n_vocab = h.vocab_size;
  c.n_embd = h.dim;
  c.n_layer = h.n_layers;
  c.n_head = h.n_heads;
  c.n_head_kv = h.n_kv_heads;
  c.head_dim = head_size;
  c.n_ff = h.hidden_dim;
  c.context_length = h.seq_len;
  c.norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.rope_dim = head_size;
  c.rope_style = RopeStyle::kInterleaved;
  c.tied_embeddings = h.shared_classifier;
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  WEFT_RETURN_IF_ERROR(CheckLlamaWeights(c, parts.tensors, path));

  parts.tokenizer.kind = "llama";
  parts.tokenizer.vocab_size = h.vocab_size;
  parts.tokenizer.llama2c_tokenizer_path = FindTokenizer(path, h.vocab_size);
  parts.mappings.push_back(std::move(file));
  return std::make_shared<const ModelFile>(std::move(parts));
}

}  // namespace weft
