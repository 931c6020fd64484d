#include "server/model_file_guard.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <filesystem>

namespace weft::server {
namespace {

bool Stat(const std::string& path, int64_t* size, int64_t* mtime_ns) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  *size = static_cast<int64_t>(st.st_size);
  *mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return true;
}

bool IsWeightFile(const std::filesystem::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".gguf" || ext == ".safetensors";
}

}  // namespace

StatusOr<ModelFileGuard> ModelFileGuard::Watch(const std::string& path) {
  ModelFileGuard guard;
  std::vector<std::string> paths;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
      if (e.is_regular_file(ec) && IsWeightFile(e.path())) paths.push_back(e.path().string());
    }
  } else {
    paths.push_back(path);
  }
  for (const std::string& p : paths) {
    Entry e;
    e.path = p;
    if (!Stat(p, &e.size, &e.mtime_ns)) return NotFoundError("cannot stat the model file " + p);
    guard.files_.push_back(std::move(e));
  }
  return guard;
}

Status ModelFileGuard::Check() const {
  for (const Entry& e : files_) {
    int64_t size = 0, mtime_ns = 0;
    if (!Stat(e.path, &size, &mtime_ns)) {
      return UnavailableError(fmt::format("the model file {} was removed while serving; restart the server", e.path));
    }
    if (size != e.size) {
      return UnavailableError(fmt::format("the model file {} changed size while serving ({} -> {} bytes); restart the server",
                                          e.path, e.size, size));
    }
    if (mtime_ns != e.mtime_ns) {
      return UnavailableError(fmt::format("the model file {} was modified while serving; restart the server", e.path));
    }
  }
  return Status::Ok();
}

}  // namespace weft::server
