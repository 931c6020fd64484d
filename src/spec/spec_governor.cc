#include "spec/spec_governor.h"

#include <algorithm>

namespace weft {

SpecGovernor::SpecGovernor(const SpecGovernorOptions& options) : options_(options), interval_(options.min_interval) {}

void SpecGovernor::Record(bool decode_only, int64_t tokens, double seconds, int32_t seqs) {
  if (!decode_only || seqs <= 0 || seconds <= 0) return;
  const double work = static_cast<double>(tokens) / seqs;
  if (!probing_) {
    pref_work_ += work;
    pref_seconds_ += seconds;
    if (++steps_ >= interval_) {
      probing_ = true;
      steps_ = 0;
      ++probes_;
    }
    return;
  }
  probe_work_ += work;
  probe_seconds_ += seconds;
  if (++steps_ < options_.probe) return;
  const double pref = pref_work_ / pref_seconds_, probe = probe_work_ / probe_seconds_;
  if (probe > pref * (1 + options_.margin)) {
    prefer_on_ = !prefer_on_;
    interval_ = options_.min_interval;
    ++flips_;
  } else {
    interval_ = std::min(options_.max_interval, interval_ * 2);
  }
  probing_ = false;
  steps_ = 0;
  pref_work_ = pref_seconds_ = probe_work_ = probe_seconds_ = 0;
}

}  // namespace weft
