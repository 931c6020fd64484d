// The ops of a llama-family forward pass, dispatched to the best instruction set the CPU
// has (scalar reference, AVX2, AVX-512). This header is ISA-neutral: it names no
// intrinsics and may be included anywhere.
//
// Every op takes an explicit KernelContext (which kernel table, which thread pool, and
// scratch memory); there is no global state. All tensors are f32 row-major unless stated
// otherwise; shapes are written [outer, ..., inner].
//
// Thread-safety: ops may run concurrently on different contexts. A context's scratch is
// not shareable between concurrent calls (give each calling thread its own). Ops are
// deterministic: a result element does not depend on the thread count, on how rows are
// split between threads, or on which other rows are in the same call (batch invariance).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/kv_type.h"
#include "tensor/dtype.h"
#include "tensor/tensor_view.h"

namespace weft {
class ThreadPool;
}

namespace weft::kernels {

struct KernelTable;  // kernels/kernel_table.h

// Grow-only scratch memory for ops that need a temporary (the quantised activations of a
// MatMul). Reuse one per calling thread so that a step allocates nothing once warm.
class Scratch {
 public:
  // At least `bytes` bytes, 64-byte aligned; valid until the next call.
  uint8_t* Get(size_t bytes);

 private:
  std::vector<uint8_t> buffer_;
};

// Sees the input of every MatMul / MatMulMany before it runs (weft imatrix collects
// activation statistics this way): w is the weight applied, x its [m, k] input with row
// stride x_stride floats (k = w.ne[0]). Called on the thread that called the op, once per
// weight; it must not keep x.
class MatMulObserver {
 public:
  virtual ~MatMulObserver() = default;
  virtual void OnMatMul(const TensorView& w, const float* x, int64_t m, int64_t x_stride) = 0;
};

struct KernelContext {
  const KernelTable* table = nullptr;  // required (see kernel_table.h)
  ThreadPool* pool = nullptr;          // nullptr: run on the calling thread
  Scratch* scratch = nullptr;          // nullptr: a thread_local fallback is used
  MatMulObserver* observer = nullptr;  // nullptr (the default): nothing is observed
};

// ---- linear algebra --------------------------------------------------------------------

// y[m, n] = x[m, k] · W^T, where W is a weight TensorView with ne = {k, n} (n rows of k
// elements) of type F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K,
// Q5_K or Q6_K. k must be a multiple of the type's block size (checked: tensors whose
// blocks run across rows must be dequantised to F32 at load). x: [m, k] with row stride
// x_stride floats (0 = k); y: [m, n] with row stride y_stride (0 = n); y is overwritten.
// SIMD tables quantise x per block to int8 (32 or 256 elements, one f32 scale each, like
// llama.cpp's Q8_0 / Q8_K) for quantised weights; the scalar table is the exact
// reference (dequantise a row, dot in double).
void MatMul(const KernelContext& ctx, const float* x, int64_t m, const TensorView& w, float* y,
            int64_t x_stride = 0, int64_t y_stride = 0);

// Several weights applied to the same x (a layer's q/k/v or gate/up projections): x is
// quantised once and one thread-pool dispatch covers every weight's columns. Each
// outs[i].y [m, n_i] (row stride y_stride, 0 = n_i) = x · outs[i].w^T, exactly as
// MatMul would give it. The weights must share k (checked); at most 4. Weights whose
// activation formats differ (e.g. F16 next to Q8_0) are run one at a time.
struct MatMulOutput {
  const TensorView* w = nullptr;
  float* y = nullptr;
  int64_t y_stride = 0;
};
void MatMulMany(const KernelContext& ctx, const float* x, int64_t m, std::span<const MatMulOutput> outs,
                int64_t x_stride = 0);

// out[i, :] = table row ids[i] (dequantised); table ne = {k, vocab}, any dequantizable
// type with whole blocks per row; out: [n, k]. ids are checked against the row count.
void EmbeddingLookup(const KernelContext& ctx, const TensorView& table, const int32_t* ids, int64_t n,
                     float* out);
// The vocabulary-parallel lookup (tensor parallelism): `table` holds the vocabulary rows
// [first, first + its rows) of an n_vocab-entry embedding; out[i, :] = row ids[i] - first
// for the ids inside, zeros for the others (another rank's; summing the ranks' outputs
// gives the whole lookup exactly). ids are checked against n_vocab.
void EmbeddingLookupPart(const KernelContext& ctx, const TensorView& table, int64_t first, int64_t n_vocab,
                         const int32_t* ids, int64_t n, float* out);

// ---- element-wise and row ops (out may alias an input unless stated) ---------------------

// out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight[:]; x, out: [rows, dim].
void RmsNorm(const KernelContext& ctx, const float* x, const float* weight, float eps, int64_t rows, int64_t dim,
             float* out);
// out[i] = a[i] + b[i], i < n.
void Add(const KernelContext& ctx, const float* a, const float* b, float* out, int64_t n);
// a[i] += b[i].
void AddInPlace(const KernelContext& ctx, float* a, const float* b, int64_t n);
// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
void SiluMul(const KernelContext& ctx, const float* gate, const float* up, float* out, int64_t n);
// out[i] = gelu_tanh(gate[i]) * up[i] (GeGLU: Gemma), gelu_tanh(g) =
// 0.5 g (1 + tanh(sqrt(2 / pi) (g + 0.044715 g^3))). ISA-neutral (the same on every table).
void GeluTanhMul(const KernelContext& ctx, const float* gate, const float* up, float* out, int64_t n);
// x[i] = cap * tanh(x[i] / cap) (Gemma 2's final-logit soft-capping). ISA-neutral.
void SoftCapInPlace(const KernelContext& ctx, float* x, float cap, int64_t n);
// In place, each of `rows` rows of length n: x = exp(x - max) / sum.
void Softmax(const KernelContext& ctx, float* x, int64_t rows, int64_t n);
// x[i] *= s.
void Scale(const KernelContext& ctx, float* x, float s, int64_t n);

// ---- rotary position embedding -----------------------------------------------------------

enum class RopeStyle : uint8_t {
  kInterleaved,  // rotate pairs (2i, 2i+1): llama GGUF files
  kNeox,         // rotate pairs (i, i + rope_dim/2): neox / qwen2 / HF layout
};
enum class RopeScaling : uint8_t { kNone, kLinear, kYarn };

struct RopeParams {
  int rope_dim = 0;        // rotated dims (even, <= head_dim); dims past it are untouched
  float theta = 10000.0f;  // frequency base
  RopeStyle style = RopeStyle::kInterleaved;
  RopeScaling scaling = RopeScaling::kNone;
  float factor = 1.0f;            // context extension factor (linear: positions / factor)
  int original_context = 0;       // YaRN: the context length the model was trained on
  float beta_fast = 32.0f;        // YaRN: ramp ends (in rotations over original_context)
  float beta_slow = 1.0f;
  float attn_factor = 1.0f;       // extra multiplier on cos/sin (YaRN: times 0.1 ln(factor) + 1)
  // [rope_dim / 2] or null (borrowed): pair i's angle is divided by freq_factors[i] before
  // any scaling above. Llama 3.1's rope scaling is given this way (Llama3RopeFreqFactors).
  const float* freq_factors = nullptr;
};

// Rotates x: [n_tokens, n_heads, head_dim] in place; token t at positions[t].
// Frequencies: theta_i = pos * theta^(-2i / rope_dim) / freq_factors[i] (1 without them)
// for pair i < rope_dim / 2.
// Linear scaling uses pos / factor. YaRN blends interpolated (pos / factor) and original
// frequencies per pair with ramp(i) = clamp((i - low) / (high - low), 0, 1), where
// low/high = rope_dim * ln(original_context / (beta * 2 pi)) / (2 ln theta) for
// beta_fast / beta_slow (floor / ceil, clamped to [0, rope_dim - 1]); pairs below low keep
// the original frequency, pairs above high are fully interpolated; cos and sin are
// multiplied by attn_factor * (1 + 0.1 ln(factor)).
void Rope(const KernelContext& ctx, float* x, int64_t n_tokens, int n_heads, int head_dim, const int32_t* positions,
          const RopeParams& params);

// ---- paged KV cache and attention ----------------------------------------------------------

// The largest head_dim the KV cache and attention take.
inline constexpr int kMaxKvHeadDim = 576;  // DeepSeek latent attention: 512 + 64

// One layer's paged KV cache. Inside a block each KV head's K and V are contiguous, so
// that attention reads one head's positions as a stream:
//   k [num_blocks, n_kv_heads, head_dim, block_size]  (dimension-major: the block's values
//     of one dimension are adjacent, as the attention kernels consume them, so no kernel
//     transposes K on the read path)
//   v [num_blocks, n_kv_heads, block_size, head_dim]  (position-major: one row per token)
// of `type` (kernels/kv_type.h). For the quantised types (kQ8, kFp8: one byte per value;
// kQ4: one byte per pair of values, dimensions 2j and 2j + 1 in its low and high nibble)
// each (block, KV head) slab ends with its f16 scales, one per group of
// KvQuantGroup(head_dim) values of a token's row (c = head_dim / KvCodesPerByte code rows):
//   k slab: codes [c][block_size], then scales [head_dim / group][block_size]
//   v slab: codes [block_size][c], then scales [block_size][head_dim / group]
// Borrowed memory.
struct KvCacheView {
  void* k = nullptr;
  void* v = nullptr;
  KvType k_type = KvType::kF16;  // K and V may differ (--kv-type K,V)
  KvType v_type = KvType::kF16;
  int64_t num_blocks = 0;
  int block_size = 16;  // tokens per block
  int n_kv_heads = 0;
  int head_dim = 0;

  int64_t KElemBytes() const { return KvElemBytes(k_type); }
  bool KQuantized() const { return KvTypeQuantized(k_type); }
  bool VQuantized() const { return KvTypeQuantized(v_type); }
  int QuantGroup() const { return KvQuantGroup(head_dim); }
  // Bytes of one KV head's K (V) in a block (scales included), and of a whole block of K
  // (V): k is num_blocks * KBlockBytes() bytes, v num_blocks * VBlockBytes().
  int64_t KHeadBytes() const { return block_size * KvRowBytes(k_type, head_dim); }
  int64_t VHeadBytes() const { return block_size * KvRowBytes(v_type, head_dim); }
  int64_t KBlockBytes() const { return n_kv_heads * KHeadBytes(); }
  int64_t VBlockBytes() const { return n_kv_heads * VHeadBytes(); }
  // K: byte offset of dimension 0 of `slot` (block * block_size + offset) for kv_head;
  // dimension i is KDimBytes() * i further on (kQ4: i / 2, kv_type.h KvCodeAt), the next
  // position KElemBytes() further on.
  int64_t KOffset(int64_t slot, int kv_head) const {
    return slot / block_size * KBlockBytes() + kv_head * KHeadBytes() + slot % block_size * KElemBytes();
  }
  int64_t KDimBytes() const { return block_size * KElemBytes(); }
  // V: byte offset of the row (head_dim contiguous values) of `slot` for kv_head; the next
  // position's row is VRowBytes() further on.
  int64_t VOffset(int64_t slot, int kv_head) const {
    return slot / block_size * VBlockBytes() + kv_head * VHeadBytes() + slot % block_size * VRowBytes();
  }
  int64_t VRowBytes() const { return KvRowCodeBytes(v_type, head_dim); }
  // Quantised types: where a slot's scales start, from its KOffset / VOffset (same block
  // and head). K: the scale of group g is KScaleGroupBytes() * g further on, the next
  // position's 2 bytes on; V: the scales of a row are adjacent (2 bytes apart).
  int64_t KScaleFromCode(int64_t slot) const {
    return int64_t{block_size} * KvRowCodeBytes(k_type, head_dim) + slot % block_size * (2 - KElemBytes());
  }
  int64_t KScaleGroupBytes() const { return int64_t{block_size} * 2; }
  int64_t VScaleFromCode(int64_t slot) const {
    const int64_t in = slot % block_size;
    return (block_size - in) * VRowBytes() + in * 2 * (head_dim / QuantGroup());
  }
};

// Stores k, v: [n_tokens, n_kv_heads, head_dim] (f32) at slots slot_mapping[t]
// (slot = block_id * block_size + offset; a negative slot skips the token), converting
// to the cache's K and V types (round to nearest even; kv_type.h for the quantised ones).
void WriteKv(const KernelContext& ctx, const float* k, const float* v, int64_t n_tokens, const int64_t* slot_mapping,
             const KvCacheView& cache);

// A flat ragged batch of queries over paged KV.
struct AttentionBatch {
  const float* q = nullptr;  // [n_tokens, n_heads, head_dim]
  int64_t n_tokens = 0;
  int n_heads = 0;           // a multiple of cache.n_kv_heads (GQA / MQA)
  int n_seqs = 0;
  const int32_t* query_start = nullptr;   // [n_seqs + 1]: sequence s owns rows [qs[s], qs[s+1])
  const int32_t* seq_len = nullptr;       // [n_seqs]: KV tokens of s including this step's
  const int32_t* block_table = nullptr;   // [n_seqs, max_blocks_per_seq] block ids
  int max_blocks_per_seq = 0;
  float scale = 1.0f;                     // usually 1 / sqrt(head_dim)
  int32_t window = 0;                     // > 0: sliding window of this many positions (below)
  float softcap = 0.0f;                   // > 0: scores become softcap * tanh(score / softcap)
  // Token trees (speculative decoding): null, or [n_tokens] masks. A row whose mask is 0
  // is causal as below. A row i of sequence s with mask M != 0 (q_len <= 64; the rows of s
  // are a tree's nodes in an order where each node comes after its ancestors) sees the
  // KV positions before this step's, [0, seq_len[s] - q_len), and of this step's positions
  // seq_len[s] - q_len + j only those with bit j of M set (its ancestors and itself: bit
  // i must be set, and no bit above i). Its RoPE position is the caller's business.
  const uint64_t* tree_mask = nullptr;
  // Heavy-hitter eviction (kv/kv_budget.h): null (nothing is accumulated, nothing costs),
  // or [n_seqs] pointers, each null or an array of at least seq_len[s] floats indexed by
  // KV position, to which Attention ADDS, for every position, the softmax weight that each
  // query row and head of sequence s gave it (one call adds q_len[s] * n_heads in all).
  // Computed by a pass of its own after the attention proper (attention_mass.h), so the
  // output is the same bits with or without it. Not with tree masks (checked).
  float* const* attn_mass = nullptr;
};

// out: [n_tokens, n_heads, head_dim]. Query row i of sequence s (q_len = qs[s+1] - qs[s])
// is at position seq_len[s] - q_len + i and attends causally to KV positions
// [0, position], or with a window W > 0 to (position - W, position] (Mistral, Gemma's
// local layers), or (tree_mask) to the prefix and its tree ancestors; head h reads kv head h / (n_heads / n_kv_heads). A score is
// q . k * scale, soft-capped when softcap > 0 (Gemma 2). Online softmax over KV
// blocks, read in place through the block table. Parallel over tiles of (tokens, heads of
// a KV head), and over KV chunks when there are few (attention_split.h); a query's result
// is the same bits however it is split.
void Attention(const KernelContext& ctx, const AttentionBatch& batch, const KvCacheView& cache, float* out);

}  // namespace weft::kernels
