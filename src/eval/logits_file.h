// WGLD v2 logits files (see ../shared/golden/README.md): a token sequence evaluated
// from position 0, and the raw logits kept at some positions. Used by `weft logits`
// to write, and by the golden tests to compare weft against a reference.
//   u32 magic "WGLD" (0x444c4757)  u32 version = 2
//   u32 n_vocab  u32 n_tokens  u32 n_keep
//   u32 tokens[n_tokens]  u32 keep[n_keep]  f32 logits[n_keep][n_vocab]   (little-endian)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "weft/status.h"

namespace weft {

struct LogitsFile {
  uint32_t n_vocab = 0;
  std::vector<uint32_t> tokens;   // the whole input sequence
  std::vector<uint32_t> keep;     // positions whose logits are stored (each < tokens.size())
  std::vector<float> logits;      // [keep.size(), n_vocab], row-major

  const float* Row(size_t i) const { return logits.data() + i * n_vocab; }
};

// Reads and validates a file (magic, version, sizes, positions in range). DataLoss
// naming the file when corrupt.
StatusOr<LogitsFile> ReadLogitsFile(const std::string& path);
Status WriteLogitsFile(const std::string& path, const LogitsFile& file);

// Distance between two logits sets over the same tokens and positions.
struct LogitsDistance {
  double rms = 0;          // sqrt(mean((a-b)^2)) over all kept values
  double max_abs = 0;      // max |a-b|
  int top1_agree = 0;      // positions whose argmax is the same
  int positions = 0;
};
// InvalidArgument when the two do not cover the same tokens, positions and vocab.
StatusOr<LogitsDistance> CompareLogits(const LogitsFile& a, const LogitsFile& b);

}  // namespace weft
