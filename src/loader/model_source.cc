#include "loader/model_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "base/log.h"
#include "weft/build_info.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kHubPrefix = "hf:";

std::string Absolute(const fs::path& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  return (ec ? p : abs).lexically_normal().string();
}

bool SameDirectory(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (fs::equivalent(a, b, ec)) return true;
  return fs::path(a).lexically_normal() == fs::path(b).lexically_normal();
}

std::string ToLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Among several candidate files, the one whose stem is the directory's name.
const fs::path* NamedLikeDirectory(const std::vector<fs::path>& files, const fs::path& dir) {
  const std::string dir_name = ToLower(dir.filename().string());
  const fs::path* match = nullptr;
  for (const fs::path& f : files) {
    if (ToLower(f.stem().string()) == dir_name) {
      if (match) return nullptr;
      match = &f;
    }
  }
  return match;
}

std::string ListNames(const std::vector<fs::path>& files) {
  std::string out;
  for (const fs::path& f : files) out += (out.empty() ? "" : ", ") + f.filename().string();
  return out;
}

// A model found under a root: a file as it is, a directory resolved to its model.
StatusOr<std::string> ResolveExisting(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return PickModelInDirectory(path.string());
  return Absolute(path);
}

bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

StatusOr<std::string> ResolveHub(const std::string& spec, const ModelSearchPaths& paths) {
  WEFT_ASSIGN_OR_RETURN(HubRequest request, ParseHubSpec(spec.substr(kHubPrefix.size())));
  StatusOr<std::string> downloaded = DownloadFromHub(request, paths.download);
  if (downloaded.ok() || downloaded.status().code() != StatusCode::kUnavailable ||
      request.file) {
    return downloaded;
  }
  // Offline: use what an earlier download left in the cache, if it holds a model.
  const std::string dir = HubCacheDir(request, paths.download);
  if (Exists(dir)) {
    if (auto cached = PickModelInDirectory(dir); cached.ok()) {
      WEFT_LOG_WARN("{}; using the copy in the cache: {}", downloaded.status().message(),
                    *cached);
      return cached;
    }
  }
  return downloaded;
}

}  // namespace

ModelSearchPaths ModelSearchPaths::FromEnvironment() {
  ModelSearchPaths paths;
  auto add = [&](const std::string& dir, const std::string& origin) {
    if (dir.empty()) return;
    const std::string abs = Absolute(dir);
    for (const ModelSearchRoot& r : paths.roots) {
      if (SameDirectory(r.dir, abs)) return;
    }
    paths.roots.push_back({abs, origin});
  };
  if (const char* env = std::getenv("WEFT_MODELS"); env && *env) {
    std::string_view list(env);
    while (!list.empty()) {
      const size_t colon = list.find(':');
      add(std::string(list.substr(0, colon)), "$WEFT_MODELS");
      if (colon == std::string_view::npos) break;
      list.remove_prefix(colon + 1);
    }
  }
  add("../shared/models", "../shared/models from the current directory");
  add(std::string(WEFT_SOURCE_DIR) + "/../shared/models", "../shared/models from the source tree");
  paths.download = DownloadOptions::FromEnvironment();
  add(paths.download.cache_dir, "user cache");
  return paths;
}

StatusOr<std::string> PickModelInDirectory(const std::string& dir_text) {
  const fs::path dir(dir_text);
  std::vector<fs::path> ggufs, bins;
  bool has_config = false, has_safetensors = false;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    std::error_code file_ec;
    if (!e.is_regular_file(file_ec)) continue;
    const std::string name = e.path().filename().string();
    const std::string lower = ToLower(name);
    if (name == "config.json") has_config = true;
    if (lower.ends_with(".safetensors")) has_safetensors = true;
    if (lower.ends_with(".gguf") && lower.find("mmproj") == std::string::npos) {
      ggufs.push_back(e.path());
    }
    if (lower.ends_with(".bin") && !lower.starts_with("tok")) bins.push_back(e.path());
  }
  if (ec) {
    return NotFoundError(fmt::format("cannot list the directory {}: {}", dir_text, ec.message()));
  }
  std::sort(ggufs.begin(), ggufs.end());
  std::sort(bins.begin(), bins.end());

  if (has_config && has_safetensors) return Absolute(dir);
  if (ggufs.size() == 1) return Absolute(ggufs.front());
  if (ggufs.size() > 1) {
    if (const fs::path* named = NamedLikeDirectory(ggufs, dir)) return Absolute(*named);
    return InvalidArgumentError(fmt::format(
        "{} holds several .gguf models ({}); name one, e.g. {}", dir_text, ListNames(ggufs),
        (dir / ggufs.front().filename()).string()));
  }
  if (has_config) {
    return UnimplementedError(fmt::format(
        "{} has config.json but no *.safetensors weights (PyTorch .bin weights are not "
        "supported; convert them to safetensors or GGUF)",
        dir_text));
  }
  if (bins.size() == 1) return Absolute(bins.front());
  if (bins.size() > 1) {
    if (const fs::path* named = NamedLikeDirectory(bins, dir)) return Absolute(*named);
    return InvalidArgumentError(fmt::format("{} holds several .bin files ({}); name one",
                                            dir_text, ListNames(bins)));
  }
  return NotFoundError(fmt::format(
      "no model in the directory {} (looked for config.json + *.safetensors, a .gguf file, "
      "or a llama2.c .bin)",
      dir_text));
}

StatusOr<std::string> ResolveModelPath(const std::string& spec, const ModelSearchPaths& paths) {
  if (spec.empty()) return InvalidArgumentError("no model named");
  if (spec.starts_with(kHubPrefix)) return ResolveHub(spec, paths);

  if (Exists(spec)) {
    StatusOr<std::string> found = ResolveExisting(spec);
    if (!found.ok()) return std::move(found).status().WithContext(spec);
    return found;
  }

  const fs::path name(spec);
  if (name.is_absolute()) return NotFoundError(fmt::format("{}: no such file or directory", spec));
  // One line (CLI errors are one line), naming every place looked in.
  std::string looked_in = fmt::format("{} (as a path)", Absolute(spec));
  for (const ModelSearchRoot& root : paths.roots) {
    const fs::path candidate = fs::path(root.dir) / name;
    if (Exists(candidate)) {
      StatusOr<std::string> found = ResolveExisting(candidate);
      if (!found.ok()) return std::move(found).status().WithContext(spec);
      return found;
    }
    looked_in += fmt::format(", {} ({})", candidate.string(), root.origin);
  }
  return NotFoundError(fmt::format(
      "model '{}' not found; looked in {}. Name an existing file or directory, put the model "
      "under one of these places (or a directory in $WEFT_MODELS), or download it from the "
      "Hugging Face hub with hf:owner/repo (or hf:owner/repo:file.gguf)",
      spec, looked_in));
}

std::string DefaultModelName() { return "tinyllama-v0"; }

}  // namespace weft
