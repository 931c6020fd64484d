// Turning what a user typed (--model X) into a local model path.
//
// A spec is tried, in order, as:
//   1. an existing path (file or directory), absolute or relative to the current directory;
//   2. a name under each search root in turn: $WEFT_MODELS (':'-separated), then
//      ../shared/models (from the current directory, then from the source tree), then
//      the user cache (~/.cache/weft or $XDG_CACHE_HOME/weft). A name is a path inside
//      a root ("tinyllama-v0/TinyLLama-v0.Q4_0.gguf") or a directory there ("tinyllama-v0");
//   3. "hf:owner/repo[@revision][:file]": downloaded from the Hugging Face hub into the
//      cache (loader/hf_download.h), or taken from the cache when the hub is unreachable.
// A directory is resolved to the model in it (PickModelInDirectory).
//
// No globals: the roots and download settings come in a ModelSearchPaths, which
// FromEnvironment() builds from the environment and tests build by hand.
#pragma once

#include <string>
#include <vector>

#include "loader/hf_download.h"
#include "weft/status.h"

namespace weft {

struct ModelSearchRoot {
  std::string dir;     // absolute
  std::string origin;  // where it came from, for messages: "$WEFT_MODELS", "user cache", ...
};

struct ModelSearchPaths {
  std::vector<ModelSearchRoot> roots;  // searched in this order for names
  DownloadOptions download;            // for "hf:" specs; download.cache_dir is the cache

  // roots: each entry of $WEFT_MODELS, <cwd>/../shared/models, <WEFT_SOURCE_DIR>/../shared/models
  // (when a different directory), and UserCacheDir(); download: DownloadOptions::FromEnvironment().
  static ModelSearchPaths FromEnvironment();
};

// The local path of the model `spec` names: a model file (.gguf, llama2.c .bin) or a
// directory in Hugging Face layout. NotFound lists every place looked in.
StatusOr<std::string> ResolveModelPath(const std::string& spec, const ModelSearchPaths& paths);

// The model in a directory: the directory itself when it holds a Hugging Face layout
// (config.json + *.safetensors); else its .gguf (when several, the one named like the
// directory, else an error listing them); else its llama2.c .bin (tokenizer .bin files
// such as tok512.bin or tokenizer.bin are not models).
StatusOr<std::string> PickModelInDirectory(const std::string& dir);

// The model weft uses when none is named: the best one available locally here.
std::string DefaultModelName();

}  // namespace weft
