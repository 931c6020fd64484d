// ProgressBar: a one-line progress display on stderr for long work (perplexity, bench).
// On a terminal it redraws in place (throttled to ~10 Hz); otherwise it prints a line
// at each 10% so that logs stay readable.
// Thread-safety: one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace weft::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  void Update(int64_t done, int64_t total, const std::string& detail);
  void Finish();  // ends the line (terminal) — call once when done

 private:
  std::string label_;
  bool tty_;
  bool drawn_ = false;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace weft::cli
