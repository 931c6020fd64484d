#include "loader/rope_freq_factors.h"

#include <cmath>
#include <numbers>

namespace weft {

std::vector<float> Llama3RopeFreqFactors(const RopeScaling& s, int rope_dim, float theta) {
  std::vector<float> out(static_cast<size_t>(rope_dim / 2), 1.0f);
  const double original = static_cast<double>(s.original_context);
  const double low = s.llama3_low_freq_factor, high = s.llama3_high_freq_factor, factor = s.factor;
  const double low_freq_wavelength = original / low, high_freq_wavelength = original / high;
  for (size_t i = 0; i < out.size(); ++i) {
    const double freq = std::pow(static_cast<double>(theta), -2.0 * static_cast<double>(i) / rope_dim);
    const double wavelength = 2.0 * std::numbers::pi / freq;
    if (wavelength < high_freq_wavelength) continue;
    if (wavelength > low_freq_wavelength) {
      out[i] = static_cast<float>(factor);
      continue;
    }
    const double smooth = (original / wavelength - low) / (high - low);
    out[i] = static_cast<float>(1.0 / ((1.0 - smooth) / factor + smooth));
  }
  return out;
}

bool LongRopeUsesLongFactors(const RopeScaling& scaling, int64_t context_length) {
  return context_length > scaling.original_context;
}

}  // namespace weft
