// When a benchmark pass sends its requests, and the sweeps of a command line.
//
// A pass is (rate, concurrency): requests arrive as a Poisson process at `rate` per
// second (exponential gaps, seeded; rate = infinity: all due at once) and at most
// `concurrency` are in flight (a fixed-concurrency, closed-loop pass is rate = infinity
// with concurrency C; "all at once" is rate = infinity with concurrency = requests).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "weft/status.h"

namespace weft::bench_serve {

constexpr double kInfiniteRate = std::numeric_limits<double>::infinity();

// Seconds from the start of the pass at which each of n requests is due: 0, then
// cumulative exponential gaps of mean 1/rate; all 0 when rate is infinite.
std::vector<double> PoissonArrivals(int n, double rate, uint64_t seed);

// "1,4,16,64" -> {1, 4, 16, 64}: positive numbers, "inf" too when allow_inf; integers
// only when integral. Errors name the flag and the bad item.
StatusOr<std::vector<double>> ParseSweep(const std::string& flag, const std::string& text, bool allow_inf,
                                         bool integral);

}  // namespace weft::bench_serve
