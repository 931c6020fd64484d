#include "support/golden.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "base/sha256.h"

namespace weft::testing {

std::string SharedDir() { return WEFT_SHARED_DIR; }
std::string GoldenDir() { return SharedDir() + "/golden"; }

namespace {
StatusOr<std::string> FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(path + ": cannot open");
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.Update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  return h.Final();
}
}  // namespace

StatusOr<std::string> SynthModel(const std::string& preset, const std::string& type, const std::string& sha256) {
  namespace fs = std::filesystem;
  std::string lower = type;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const fs::path dir = WEFT_SYNTH_CACHE_DIR;
  fs::create_directories(dir);
  const fs::path path = dir / ("synth-" + preset + "-" + lower + ".gguf");
  if (!fs::exists(path)) {
    const fs::path tmp = dir / ("tmp-" + std::to_string(::getpid()) + "-" + path.filename().string());
    // The repo's wrapper: the shared generator plus real-width presets with few layers.
    const std::string cmd = "python3 '" + std::string(WEFT_TESTS_DIR) + "/tools/synth_real_width.py' --preset " +
                            preset + " --type " + type + " -o '" + tmp.string() + "' > /dev/null";
    if (std::system(cmd.c_str()) != 0) return InternalError("failed: " + cmd);
    fs::rename(tmp, path);  // atomic: concurrent tests see the whole file or none
  }
  if (!sha256.empty()) {
    WEFT_ASSIGN_OR_RETURN(std::string got, FileSha256(path.string()));
    if (got != sha256) {
      return DataLossError(path.string() + ": sha256 " + got + " is not the golden index's " + sha256 +
                           " (synth_gguf.py changed?)");
    }
  }
  return path.string();
}

}  // namespace weft::testing
