// MappedFile: a read-only, private memory map of a whole file. Model weights are used
// in place from the mapping (zero-copy), so the MappedFile must outlive every view
// into it; share it with std::shared_ptr.
// Thread-safety: immutable after Open; safe to read from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "weft/status.h"

namespace weft {

class MappedFile {
 public:
  // NotFound when the file is missing; InvalidArgument for a directory.
  static StatusOr<std::shared_ptr<const MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

  // Drops the resident pages wholly inside [p, p + bytes) from this process (the kernel
  // reads them from the file again if they are touched later): for weights that were
  // copied into another layout at load, so that they are not resident twice. Ranges
  // outside the mapping are ignored. Returns the bytes released. Thread-safe; the data
  // seen through data() does not change.
  size_t ReleasePages(const void* p, size_t bytes) const;

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size) : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const uint8_t* data_;  // nullptr for an empty file
  size_t size_;
};

// Reads a whole (small) file into a string: config.json, templates, vocab files.
StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace weft
