#include "sampling/stop_strings.h"

#include <algorithm>

namespace weft {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops, bool include_stop)
    : stops_(std::move(stops)), include_stop_(include_stop) {
  for (const auto& s : stops_) max_len_ = std::max(max_len_, s.size());
}

StopStringMatcher::Result StopStringMatcher::Feed(std::string_view delta) {
  Result r;
  if (stopped_) return r;
  pending_.append(delta);
  if (stops_.empty()) {
    r.emit.swap(pending_);
    return r;
  }
  // The earliest complete stop string wins (the first listed among those starting there).
  size_t first = std::string::npos, stop_len = 0;
  for (const auto& s : stops_) {
    const size_t at = pending_.find(s);
    if (at < first) {
      first = at;
      stop_len = s.size();
    }
  }
  if (first != std::string::npos) {
    r.emit = pending_.substr(0, include_stop_ ? first + stop_len : first);
    r.stopped = stopped_ = true;
    pending_.clear();
    return r;
  }
  // Hold back the longest suffix that is a proper prefix of some stop string.
  size_t hold = 0;
  const size_t max_hold = std::min(pending_.size(), max_len_ - 1);
  for (size_t len = max_hold; len > 0 && hold == 0; --len) {
    const std::string_view tail(pending_.data() + pending_.size() - len, len);
    for (const auto& s : stops_) {
      if (s.size() > len && std::string_view(s).substr(0, len) == tail) {
        hold = len;
        break;
      }
    }
  }
  r.emit = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return r;
}

std::string StopStringMatcher::Flush() {
  std::string out;
  if (!stopped_) out.swap(pending_);
  return out;
}

}  // namespace weft
