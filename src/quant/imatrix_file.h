// Importance matrices (activation statistics of every matmul's input columns) in the
// binary file format of llama.cpp's llama-imatrix / llama-quantize (the legacy
// "imatrix.dat" format of the reference snapshot, c392e509; little-endian, int = int32):
//
//   int n_entries
//   n_entries x { int name_len; char name[name_len]; int ncall; int nval; float values[nval] }
//   int chunks                     (the number of calls the matrix was computed with)
//   int dataset_len; char dataset[dataset_len]   (the calibration file's name)
//
// values[j] = (sum over the inputs x seen of x[j]^2) / count[j] * ncall, where count[j]
// is how many input rows reached column j and ncall how many matmul calls contributed;
// for a tensor of experts (ffn_*_exps), nval = n_expert * n_per_row, expert e's columns
// at [e * n_per_row, (e+1) * n_per_row). llama-quantize divides values by ncall and uses
// the result (mean x^2 per column) as the weights of its quantisation search.
// Thread-safety: plain data and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "weft/status.h"

namespace weft::quant {

struct ImatrixEntry {
  int32_t ncall = 0;
  std::vector<float> values;  // as stored: mean x^2 * ncall
};

struct Imatrix {
  std::map<std::string, ImatrixEntry> entries;  // by tensor name, e.g. "blk.0.attn_q.weight"
  int32_t chunks = 0;
  std::string dataset;
  // The weights llama-quantize uses for `name`: values / ncall (mean x^2 per column), or
  // empty when the matrix has no entry of that name.
  std::vector<float> Weights(const std::string& name) const;
};

// DataLoss on a truncated or malformed file (no entries, a negative length, nval < 1).
// The trailer (chunks, dataset) is optional, as in older files.
StatusOr<Imatrix> ReadImatrix(const std::string& path);
// Entries in name order.
Status WriteImatrix(const Imatrix& m, const std::string& path);

}  // namespace weft::quant
