// SampleStats: mean, sample standard deviation and median of repeated measurements
// (benchmark repetitions). The standard deviation uses n - 1 in the denominator (Bessel's
// correction, as llama-bench reports it) and is 0 for fewer than two samples.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <span>

namespace weft {

struct SampleStats {
  size_t n = 0;
  double mean = 0, stddev = 0, median = 0, min = 0, max = 0;
};

// All zero for an empty span.
SampleStats Summarize(std::span<const double> samples);

}  // namespace weft
