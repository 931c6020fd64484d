#include "base/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace weft {
namespace {
Status ErrnoStatus(const std::string& path, const char* what) {
  int err = errno;
  std::string msg = std::string(what) + ": " + std::strerror(err);
  if (err == ENOENT) return NotFoundError(msg).WithContext(path);
  return InvalidArgumentError(msg).WithContext(path);
}
}  // namespace

StatusOr<std::shared_ptr<const MappedFile>> MappedFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(path, "cannot open");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Status s = ErrnoStatus(path, "cannot stat");
    ::close(fd);
    return s;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgumentError("not a regular file").WithContext(path);
  }
  size_t size = static_cast<size_t>(st.st_size);
  const uint8_t* data = nullptr;
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      Status s = ErrnoStatus(path, "cannot mmap");
      ::close(fd);
      return s;
    }
    data = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping keeps the file alive
  return std::shared_ptr<const MappedFile>(new MappedFile(path, data, size));
}

size_t MappedFile::ReleasePages(const void* p, size_t bytes) const {
  const auto begin = reinterpret_cast<uintptr_t>(p);
  const auto lo = reinterpret_cast<uintptr_t>(data_);
  if (data_ == nullptr || begin < lo || begin - lo > size_ || bytes > size_ - (begin - lo)) return 0;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + bytes) / page * page;
  if (last <= first) return 0;
  // A private, read-only file mapping: dropped pages come back from the file unchanged.
  if (::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED) != 0) return 0;
  return last - first;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errno = errno ? errno : ENOENT;
    return ErrnoStatus(path, "cannot open");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return DataLossError("read error").WithContext(path);
  return ss.str();
}

}  // namespace weft
