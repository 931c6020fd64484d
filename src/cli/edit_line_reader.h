// EditLineReader: `weft chat`'s prompt on a terminal, with line editing and history
// (libedit: arrows, Ctrl-A/E, Up recalls earlier lines). Like LineReader it waits with
// poll(2) in short slices and checks an interrupt flag between them, so Ctrl-C at the
// prompt returns kInterrupted at once; libedit's own signal handlers are off.
// One instance per process (libedit's readline interface is global); not thread-safe.
#pragma once

#include <atomic>
#include <string>

#include "cli/line_reader.h"

namespace weft::cli {

class EditLineReader {
 public:
  // Reads the terminal on stdin, writes the prompt and echo to stdout. `interrupted` as
  // LineReader's (set by a SIGINT handler; cleared when reported).
  explicit EditLineReader(std::atomic<bool>* interrupted);
  ~EditLineReader();
  EditLineReader(const EditLineReader&) = delete;
  EditLineReader& operator=(const EditLineReader&) = delete;

  // One line after `prompt`; a non-empty line joins the history (Up recalls it).
  LineReader::Result ReadLine(const char* prompt, std::string* line);

 private:
  std::atomic<bool>* interrupted_;
};

}  // namespace weft::cli
