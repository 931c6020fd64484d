// Downloads models from the Hugging Face hub (or any server speaking its two routes)
// into weft's user cache:
//   GET {endpoint}/api/models/{repo}/tree/{revision}?recursive=true   the file listing
//   GET {endpoint}/{repo}/resolve/{revision}/{path}                    one file (redirects followed)
// Files land in <cache_dir>/hf/<owner>/<repo>/<revision>/<path>. Each is written to
// "<path>.part" first, resumed with a Range request when a .part exists, checked
// (size, and sha256 against the listing's lfs oid when it gives one) and then renamed
// into place, so a final name always holds a complete, verified file.
//
// Thread-safety: DownloadFromHub may be called from several threads, but two calls
// must not download into the same cache directory at once (they share .part files).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "weft/status.h"

namespace weft {

// What to fetch: "owner/repo", optionally one file in it, at a revision.
struct HubRequest {
  std::string repo;                 // "owner/repo"
  std::optional<std::string> file;  // a path inside the repo; unset: pick the model
  std::string revision = "main";    // branch, tag or commit
};

// Parses "owner/repo[@revision][:file]" (the part of a model spec after "hf:").
StatusOr<HubRequest> ParseHubSpec(const std::string& text);

struct DownloadOptions {
  std::string endpoint = "https://huggingface.co";  // no trailing slash needed
  std::optional<std::string> token;                 // sent as "Authorization: Bearer <token>"
  std::string cache_dir;                            // weft's cache root (see UserCacheDir)
  // A progress bar on stderr, drawn only when stderr is a terminal.
  bool show_progress = true;
  // Attempts per file: a dropped connection is resumed from where it stopped.
  int max_attempts = 3;
  int retry_delay_ms = 1000;  // before attempt k (k >= 2): k - 1 times this
  long connect_timeout_s = 30;
  // A transfer slower than 1 byte/s for this long is abandoned (and resumed if attempts remain).
  long stall_timeout_s = 60;

  // endpoint: $WEFT_HF_ENDPOINT, else $HF_ENDPOINT, else the default above.
  // token: $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN, else none.
  // cache_dir: UserCacheDir().
  static DownloadOptions FromEnvironment();
};

// weft's cache root: $XDG_CACHE_HOME/weft, else $HOME/.cache/weft (empty if neither is set).
std::string UserCacheDir();

// Where `request` is (or would be) stored: <cache_dir>/hf/<owner>/<repo>/<revision>.
std::string HubCacheDir(const HubRequest& request, const DownloadOptions& options);

// Downloads what `request` names and returns the local path: the file (a .gguf, or the
// named file), or the directory holding a Hugging Face layout (config.json, tokenizer
// files, *.safetensors). Files already complete in the cache are not fetched again;
// a named file already in the cache is returned without any network access.
// Errors: kUnauthenticated (401/403: set HF_TOKEN), kNotFound (404, or a repo without
// a model), kUnavailable (network failure), kDataLoss (size or sha256 mismatch; the
// partial file is deleted), kInvalidArgument (malformed repo or path).
StatusOr<std::string> DownloadFromHub(const HubRequest& request, const DownloadOptions& options);

}  // namespace weft
