#include "spec/spec_governor.h"

#include <algorithm>

namespace weft {

SpecGovernor::SpecGovernor(const SpecGovernorOptions& options) : options_(options), interval_(options.min_interval) {}

void SpecGovernor::Record(bool decode_only, bool drafted, int64_t tokens, double seconds, int32_t seqs) {
  if (!decode_only || seqs <= 0 || seconds <= 0) return;
  Side& side = drafted ? drafted_ : plain_;
  side.work += static_cast<double>(tokens) / seqs;
  side.seconds += seconds;
  ++side.steps;
  ++steps_;
  if (!probing_) {
    if (steps_ >= interval_) {
      probing_ = true;
      steps_ = 0;
      probe_drafted_ = 0;
      ++probes_;
    }
    return;
  }
  if (drafted) ++probe_drafted_;
  const bool done = prefer_on_ ? steps_ >= options_.probe
                               : probe_drafted_ >= options_.probe || steps_ >= 4 * options_.probe;
  if (done) EndProbe();
}

void SpecGovernor::EndProbe() {
  if (drafted_.steps == 0 || plain_.steps == 0) {
    // Nothing to compare (no step drafted): the preference and the interval stay.
  } else if (const double on = drafted_.rate(), off = plain_.rate();
             prefer_on_ ? off > on * (1 + options_.margin) : on > off * (1 + options_.margin)) {
    prefer_on_ = !prefer_on_;
    interval_ = options_.min_interval;
    ++flips_;
  } else {
    interval_ = std::min(options_.max_interval, interval_ * 2);
  }
  probing_ = false;
  steps_ = 0;
  drafted_ = plain_ = Side{};
}

}  // namespace weft
