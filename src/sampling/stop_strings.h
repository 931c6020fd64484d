// StopStringMatcher: finds stop strings in a stream of text deltas, across token
// boundaries, so that no part of a stop string reaches the output (unless asked to
// include the stop string itself), nor any text after it. Text that might
// be the start of a stop string is held back until the next delta decides it.
// Thread-safety: one per sequence, used by one thread at a time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace weft {

class StopStringMatcher {
 public:
  // `include_stop`: the text emitted at a stop ends with the stop string (else right before it).
  explicit StopStringMatcher(std::vector<std::string> stops, bool include_stop = false);

  struct Result {
    std::string emit;     // text safe to send now
    bool stopped = false; // a stop string was found; `emit` ends right before (or after) it
  };
  // Feeds the next delta. After a stop, further calls emit nothing.
  Result Feed(std::string_view delta);
  // End of stream (no stop found): whatever was held back.
  std::string Flush();

 private:
  std::vector<std::string> stops_;
  bool include_stop_ = false;
  size_t max_len_ = 0;
  std::string pending_;  // not yet emitted: may begin a stop string
  bool stopped_ = false;
};

}  // namespace weft
