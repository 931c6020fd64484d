#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace weft::cli {

ProgressBar::ProgressBar(std::string label) : label_(std::move(label)), tty_(::isatty(STDERR_FILENO) == 1) {}

void ProgressBar::Update(int64_t done, int64_t total, const std::string& detail) {
  const double frac = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0.0;
  if (tty_) {
    const auto now = std::chrono::steady_clock::now();
    if (done < total && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(frac * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r%s [%s] %lld/%lld %s\x1b[K", label_.c_str(), bar.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total), detail.c_str());
    std::fflush(stderr);
    drawn_ = true;
    return;
  }
  const int decile = static_cast<int>(frac * 10);
  if (decile != last_decile_ || done == total) {
    last_decile_ = decile;
    std::fprintf(stderr, "%s: %lld/%lld %s\n", label_.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total), detail.c_str());
  }
}

void ProgressBar::Finish() {
  if (tty_ && drawn_) std::fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace weft::cli
