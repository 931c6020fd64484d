#include "support/gguf_builder.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace weft::testing {

namespace {
template <typename T>
std::vector<uint8_t> Encode(T v) {
  std::vector<uint8_t> out(sizeof(T));
  std::memcpy(out.data(), &v, sizeof(T));
  return out;
}
}  // namespace

void GgufBuilder::AddRawKv(const std::string& key, uint32_t type, std::vector<uint8_t> encoded) {
  kvs_.push_back({key, type, std::move(encoded)});
}
void GgufBuilder::AddU32(const std::string& k, uint32_t v) { AddRawKv(k, 4, Encode(v)); }
void GgufBuilder::AddI32(const std::string& k, int32_t v) { AddRawKv(k, 5, Encode(v)); }
void GgufBuilder::AddU64(const std::string& k, uint64_t v) { AddRawKv(k, 10, Encode(v)); }
void GgufBuilder::AddF32(const std::string& k, float v) { AddRawKv(k, 6, Encode(v)); }
void GgufBuilder::AddF64(const std::string& k, double v) { AddRawKv(k, 12, Encode(v)); }
void GgufBuilder::AddBool(const std::string& k, bool v) { AddRawKv(k, 7, {static_cast<uint8_t>(v ? 1 : 0)}); }
void GgufBuilder::AddString(const std::string& k, const std::string& v) {
  ByteWriter w;
  w.Str(v);
  AddRawKv(k, 8, w.bytes());
}
void GgufBuilder::AddStringArray(const std::string& k, const std::vector<std::string>& v) {
  ByteWriter w;
  w.U32(8);
  w.U64(v.size());
  for (const auto& s : v) w.Str(s);
  AddRawKv(k, 9, w.bytes());
}
void GgufBuilder::AddI32Array(const std::string& k, const std::vector<int32_t>& v) {
  ByteWriter w;
  w.U32(5);
  w.U64(v.size());
  for (int32_t x : v) w.I32(x);
  AddRawKv(k, 9, w.bytes());
}
void GgufBuilder::AddF32Array(const std::string& k, const std::vector<float>& v) {
  ByteWriter w;
  w.U32(6);
  w.U64(v.size());
  for (float x : v) w.F32(x);
  AddRawKv(k, 9, w.bytes());
}

void GgufBuilder::AddTensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type_id,
                            std::vector<uint8_t> data, std::optional<uint64_t> offset_override) {
  tensors_.push_back({name, std::move(dims), type_id, std::move(data), offset_override});
}

void GgufBuilder::AddTinyLlama() {
  const uint64_t embd = 8, ff = 16, vocab = 4;
  AddString("general.architecture", "llama");
  AddU32("llama.embedding_length", embd);
  AddU32("llama.block_count", 1);
  AddU32("llama.attention.head_count", 2);
  AddU32("llama.attention.head_count_kv", 2);
  AddU32("llama.feed_forward_length", ff);
  AddU32("llama.context_length", 64);
  AddF32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  AddStringArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
  AddString("tokenizer.ggml.model", "llama");
  auto f32 = [](uint64_t n) { return std::vector<uint8_t>(n * 4, 0); };
  AddTensor("token_embd.weight", {embd, vocab}, 0, f32(embd * vocab));
  AddTensor("output_norm.weight", {embd}, 0, f32(embd));
  AddTensor("blk.0.attn_norm.weight", {embd}, 0, f32(embd));
  for (const char* n : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
    AddTensor(std::string("blk.0.") + n + ".weight", {embd, embd}, 0, f32(embd * embd));
  }
  AddTensor("blk.0.ffn_norm.weight", {embd}, 0, f32(embd));
  AddTensor("blk.0.ffn_gate.weight", {embd, ff}, 0, f32(embd * ff));
  AddTensor("blk.0.ffn_up.weight", {embd, ff}, 0, f32(embd * ff));
  AddTensor("blk.0.ffn_down.weight", {ff, embd}, 0, f32(embd * ff));
}

std::vector<uint8_t> GgufBuilder::Build() const {
  ByteWriter w;
  w.Raw("GGUF", 4);
  w.U32(version);
  w.U64(n_tensors_override.value_or(tensors_.size()));
  w.U64(n_kv_override.value_or(kvs_.size()));
  for (const auto& kv : kvs_) {
    w.Str(kv.key);
    w.U32(kv.type);
    w.Raw(kv.encoded.data(), kv.encoded.size());
  }
  std::vector<uint64_t> offsets;
  uint64_t off = 0;
  for (const auto& t : tensors_) {
    offsets.push_back(off);
    off = (off + t.data.size() + alignment - 1) / alignment * alignment;
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const auto& t = tensors_[i];
    w.Str(t.name);
    w.U32(static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) w.U64(d);
    w.U32(t.type_id);
    w.U64(t.offset_override.value_or(offsets[i]));
  }
  w.PadTo(alignment);
  const size_t data_start = w.bytes().size();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    w.bytes().resize(data_start + offsets[i], 0);
    w.Raw(tensors_[i].data.data(), tensors_[i].data.size());
  }
  return std::move(w.bytes());
}

std::string WriteTempFile(const std::string& name, const std::vector<uint8_t>& bytes) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("weft-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path path = dir / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return path.string();
}

}  // namespace weft::testing
