// LineReader: reads lines from a file descriptor (stdin) for `weft chat`, in a way that a
// signal handler can interrupt: it waits with poll(2) in short slices and checks an
// interrupt flag between them, so Ctrl-C at the prompt returns at once (even with
// SA_RESTART, which would silently restart a blocked read(2)).
// Not thread-safe: one reader per descriptor, used by one thread.
#pragma once

#include <atomic>
#include <string>

namespace weft::cli {

class LineReader {
 public:
  enum class Result { kLine, kEof, kInterrupted, kError };

  // `interrupted` is set by a signal handler (may be null: never interrupted); the reader
  // clears it when it reports kInterrupted. Neither is owned.
  LineReader(int fd, std::atomic<bool>* interrupted) : fd_(fd), interrupted_(interrupted) {}

  // One line, without its '\n' (nor a '\r' before it). A last line without '\n' is
  // returned as a line, then kEof. kInterrupted drops nothing already read.
  Result ReadLine(std::string* line);
  // errno text of the last kError.
  const std::string& error() const { return error_; }

 private:
  bool TakeLine(std::string* line);

  int fd_;
  std::atomic<bool>* interrupted_;
  std::string buffer_;  // bytes read but not yet returned
  bool eof_ = false;
  std::string error_;
};

}  // namespace weft::cli
