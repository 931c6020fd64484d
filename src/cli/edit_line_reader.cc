#include "cli/edit_line_reader.h"

#include <editline/readline.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>

namespace weft::cli {
namespace {

// What libedit's line callback handed over for the ReadLine in progress.
struct Pending {
  bool done = false;
  std::optional<std::string> line;  // nullopt: end of input (Ctrl-D on an empty line)
};
Pending* g_pending = nullptr;

extern "C" void OnLine(char* text) {
  if (g_pending != nullptr) {
    g_pending->done = true;
    if (text != nullptr) g_pending->line = std::string(text);
  }
  std::free(text);
  rl_callback_handler_remove();  // no prompt until the next ReadLine asks for one
}

}  // namespace

EditLineReader::EditLineReader(std::atomic<bool>* interrupted) : interrupted_(interrupted) {
  rl_catch_signals = 0;  // SIGINT stays ours: the flag, polled below
  rl_instream = stdin;
  rl_outstream = stdout;
  rl_initialize();
}

EditLineReader::~EditLineReader() { rl_callback_handler_remove(); }

LineReader::Result EditLineReader::ReadLine(const char* prompt, std::string* line) {
  Pending pending;
  g_pending = &pending;
  std::fflush(stdout);
  rl_callback_handler_install(prompt, OnLine);
  for (;;) {
    if (pending.done) break;
    if (interrupted_ != nullptr && interrupted_->exchange(false)) {
      rl_callback_handler_remove();
      g_pending = nullptr;
      return LineReader::Result::kInterrupted;
    }
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int ready = poll(&p, 1, 100);
    if (ready < 0 && errno != EINTR) {
      rl_callback_handler_remove();
      g_pending = nullptr;
      return LineReader::Result::kError;
    }
    if (ready > 0) rl_callback_read_char();
  }
  g_pending = nullptr;
  if (!pending.line) return LineReader::Result::kEof;
  *line = std::move(*pending.line);
  if (!line->empty()) add_history(line->c_str());
  return LineReader::Result::kLine;
}

}  // namespace weft::cli
