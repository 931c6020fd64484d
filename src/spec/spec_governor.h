// SpecGovernor: whether the engine drafts at all this step, decided by measurement, so
// that speculation never makes decoding slower than plain decoding for long (vLLM's
// dynamic speculation turns it off by a batch-size rule; this measures instead, since on
// a CPU where the batch turns compute-bound, and what a draft model's passes cost, depend
// on the machine and the load).
//
// It alternates: `interval` decode steps in the preferred mode (on at the start), then a
// probe of `probe` decode steps in the other mode, and compares the two speeds in tokens
// per second per decoding sequence (so that a batch that shrank or grew between the two
// does not decide). When the probe was faster by more than `margin`, the preference
// flips and the interval restarts at its minimum; else the interval doubles (to
// max_interval), so that a clear winner costs fewer and fewer probes. Only decode-only
// steps are counted (a prefill in the batch makes a step incomparable).
// The per-sequence draft length (EngineCore) and the batch-size back-off
// (SpecConfig::max_batch_tokens) still apply while it is on.
// Thread-safety: engine thread only.
#pragma once

#include <cstdint>

namespace weft {

struct SpecGovernorOptions {
  int32_t probe = 4;           // decode steps in the other mode per probe
  int32_t min_interval = 12;   // decode steps in the preferred mode before a probe (a
                               // short generation gets a probe early)
  int32_t max_interval = 512;
  double margin = 0.05;        // the probe must be this much faster to flip
};

class SpecGovernor {
 public:
  explicit SpecGovernor(const SpecGovernorOptions& options = {});
  // Whether to draft in the next step.
  bool drafting() const { return probing_ ? !prefer_on_ : prefer_on_; }
  bool prefers_drafting() const { return prefer_on_; }
  // After a step: whether it computed only decode tokens, the tokens it generated, its
  // seconds and the sequences that decoded in it.
  void Record(bool decode_only, int64_t tokens, double seconds, int32_t seqs);
  int64_t flips() const { return flips_; }
  int64_t probes() const { return probes_; }

 private:
  SpecGovernorOptions options_;
  bool prefer_on_ = true;
  bool probing_ = false;
  int32_t interval_;
  int32_t steps_ = 0;  // decode steps in the current phase
  double pref_work_ = 0, pref_seconds_ = 0;    // tokens / seqs summed, seconds summed
  double probe_work_ = 0, probe_seconds_ = 0;
  int64_t flips_ = 0, probes_ = 0;
};

}  // namespace weft
