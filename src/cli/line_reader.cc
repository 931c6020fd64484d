#include "cli/line_reader.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace weft::cli {

bool LineReader::TakeLine(std::string* line) {
  const size_t nl = buffer_.find('\n');
  if (nl == std::string::npos) return false;
  line->assign(buffer_, 0, nl);
  buffer_.erase(0, nl + 1);
  if (!line->empty() && line->back() == '\r') line->pop_back();
  return true;
}

LineReader::Result LineReader::ReadLine(std::string* line) {
  for (;;) {
    if (TakeLine(line)) return Result::kLine;
    if (eof_) {
      if (buffer_.empty()) return Result::kEof;
      line->swap(buffer_);
      buffer_.clear();
      if (!line->empty() && line->back() == '\r') line->pop_back();
      return Result::kLine;
    }
    if (interrupted_ != nullptr && interrupted_->exchange(false)) return Result::kInterrupted;
    // Wait in slices: a signal that lands just before poll() is seen within one slice.
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, 100);
    if (ready < 0) {
      if (errno == EINTR) continue;
      error_ = std::strerror(errno);
      return Result::kError;
    }
    if (ready == 0) continue;
    char chunk[4096];
    const ssize_t n = read(fd_, chunk, sizeof(chunk));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      error_ = std::strerror(errno);
      return Result::kError;
    }
    if (n == 0) {
      eof_ = true;
      continue;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace weft::cli
