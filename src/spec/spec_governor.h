// SpecGovernor: whether the engine drafts at all this step, decided by measurement, so
// that speculation never makes decoding slower than plain decoding for long (vLLM's
// dynamic speculation turns it off by a batch-size rule; this measures instead, since on
// a CPU where the batch turns compute-bound, and what a draft model's passes cost, depend
// on the machine and the load).
//
// It compares two speeds, in tokens per second per decoding sequence (so that a batch
// that shrank or grew between steps does not decide): that of the steps that drafted (a
// proposer gave some sequence a draft: the step paid for drafting, and verified what was
// left of it), and that of plain steps. A step is credited to the side it was, whatever
// the mode: while drafting is on, a step in which every sequence had nothing to draft (a
// cooling-down sample, an n-gram with no match) is a plain step. So text that offers no
// drafts for a while decides nothing, where a comparison of "on" against "off" periods
// would be swayed by what the text offered in each (a copy-heavy stretch, then free text).
//
// It alternates: `interval` decode steps in the preferred mode (on at the start), then a
// probe in the other mode: `probe` steps when the probe is plain decoding; when it is
// drafting, until `probe` steps have drafted (at most 4 x `probe` steps). When a
// phase and its probe have measured both sides and the side the preference is not on
// was faster by more than `margin`, the preference flips and the interval restarts at
// its minimum; else the interval doubles (to max_interval), so that a clear winner costs
// fewer and fewer probes; when no step drafted, both stay as they were. Only decode-only
// steps are counted (a prefill in the batch makes a step incomparable).
// The per-sequence draft length (EngineCore) and the batch-size back-off
// (SpecConfig::max_batch_tokens) still apply while it is on.
// Thread-safety: engine thread only.
#pragma once

#include <cstdint>

namespace weft {

struct SpecGovernorOptions {
  int32_t probe = 4;           // steps of the other mode per probe (drafting: steps that
                               // drafted)
  int32_t min_interval = 12;   // decode steps in the preferred mode before a probe (a
                               // short generation gets a probe early)
  int32_t max_interval = 512;
  double margin = 0.05;        // the other side must be this much faster to flip
};

class SpecGovernor {
 public:
  explicit SpecGovernor(const SpecGovernorOptions& options = {});
  // Whether to draft in the next step.
  bool drafting() const { return probing_ ? !prefer_on_ : prefer_on_; }
  bool prefers_drafting() const { return prefer_on_; }
  // After a step: whether it computed only decode tokens, whether it drafted (a proposer
  // gave some sequence a draft), the tokens it generated, its seconds and the sequences
  // that decoded in it.
  void Record(bool decode_only, bool drafted, int64_t tokens, double seconds, int32_t seqs);
  int64_t flips() const { return flips_; }
  int64_t probes() const { return probes_; }

 private:
  struct Side {  // tokens / seqs summed, seconds summed, steps
    double work = 0, seconds = 0;
    int32_t steps = 0;
    double rate() const { return work / seconds; }
  };
  void EndProbe();

  SpecGovernorOptions options_;
  bool prefer_on_ = true;
  bool probing_ = false;
  int32_t interval_;
  int32_t steps_ = 0;  // decode steps in the current phase
  Side drafted_, plain_;
  int32_t probe_drafted_ = 0;  // steps of the current probe that drafted
  int64_t flips_ = 0, probes_ = 0;
};

}  // namespace weft
