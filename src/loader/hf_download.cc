#include "loader/hf_download.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "base/log.h"
#include "base/sha256.h"
#include "weft/build_info.h"

namespace weft {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxListingBytes = 64u << 20;  // a tree listing is JSON, never this big
constexpr size_t kMaxErrorBodyBytes = 4096;

std::string GetEnv(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool IsUnreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// Percent-encodes `text` for a URL path; '/' is kept when keep_slash.
std::string UrlEscape(std::string_view text, bool keep_slash) {
  std::string out;
  for (unsigned char c : text) {
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// A relative path that stays inside its directory: no leading '/', no empty, "." or
// ".." components. Guards the cache against a hostile listing.
bool IsSafeRelativePath(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.find('\\') != std::string_view::npos) {
    return false;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string BaseName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// One file of the repo as the tree listing describes it.
struct RemoteFile {
  std::string path;
  int64_t size = -1;   // -1: unknown
  std::string sha256;  // lowercase hex; empty: unknown (not an LFS file)
};

std::string ListingUrl(const HubRequest& r, const DownloadOptions& o) {
  return fmt::format("{}/api/models/{}/tree/{}?recursive=true", o.endpoint, r.repo,
                     UrlEscape(r.revision, false));
}

std::string FileUrl(const HubRequest& r, const DownloadOptions& o, const std::string& path) {
  return fmt::format("{}/{}/resolve/{}/{}", o.endpoint, r.repo, UrlEscape(r.revision, false),
                     UrlEscape(path, true));
}

// Maps an HTTP error status to a Status that tells the user what to do.
Status HttpError(long code, const HubRequest& r, const DownloadOptions& o,
                 const std::string& what, const std::string& url) {
  if (code == 401 || code == 403) {
    const std::string advice =
        o.token ? "the token in HF_TOKEN was refused or has no access to this repository "
                  "(accept its license on the hub, or use a token with read access)"
                : "the repository may be gated or private (or may not exist): set HF_TOKEN to a "
                  "Hugging Face access token with read access";
    return Status(StatusCode::kUnauthenticated,
                  fmt::format("{}: HTTP {} from {}: {}", what, code, url, advice));
  }
  if (code == 404) {
    return NotFoundError(fmt::format(
        "{}: HTTP 404 from {}: repository '{}' or this file does not exist at revision '{}'",
        what, url, r.repo, r.revision));
  }
  if (code == 429 || code >= 500) {
    return UnavailableError(
        fmt::format("{}: HTTP {} from {}: the server is busy or failing; try again later", what,
                    code, url));
  }
  return UnavailableError(fmt::format("{}: unexpected HTTP {} from {}", what, code, url));
}

Status NetworkError(CURLcode rc, const char* errbuf, const std::string& what,
                    const std::string& url) {
  const std::string detail = (errbuf && errbuf[0]) ? errbuf : curl_easy_strerror(rc);
  const bool unreachable = rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY ||
                           rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT ||
                           rc == CURLE_SSL_CONNECT_ERROR;
  return UnavailableError(fmt::format(
      "{}: could not download {}: {}{}", what, url, detail,
      unreachable ? " (no internet access may be available here; put the model under "
                    "$WEFT_MODELS or ../shared/models and name it instead)"
                  : ""));
}

// Options shared by every request.
void SetCommonOptions(CURL* curl, const DownloadOptions& o, curl_slist** headers, char* errbuf) {
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, o.connect_timeout_s);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, o.stall_timeout_s);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "weft/" WEFT_VERSION);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  // The token goes only to the endpoint's host: curl drops a custom Authorization
  // header when a redirect leads to another host (e.g. the hub's file CDN).
  if (o.token && !o.token->empty()) {
    *headers = curl_slist_append(*headers, ("Authorization: Bearer " + *o.token).c_str());
  }
  if (*headers) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *headers);
}

struct CurlHandle {
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};
  CurlHandle() {
    InitCurlOnce();
    curl = curl_easy_init();
  }
  ~CurlHandle() {
    curl_slist_free_all(headers);
    if (curl) curl_easy_cleanup(curl);
  }
  CurlHandle(const CurlHandle&) = delete;
  CurlHandle& operator=(const CurlHandle&) = delete;
};

size_t AppendToString(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * n > kMaxListingBytes) return 0;
  out->append(data, size * n);
  return size * n;
}

StatusOr<std::vector<RemoteFile>> FetchListing(const HubRequest& r, const DownloadOptions& o) {
  const std::string url = ListingUrl(r, o);
  const std::string what = fmt::format("listing the files of '{}'", r.repo);
  CurlHandle h;
  if (!h.curl) return InternalError("curl_easy_init failed");
  std::string body;
  SetCommonOptions(h.curl, o, &h.headers, h.errbuf);
  curl_easy_setopt(h.curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h.curl, CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(h.curl, CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(h.curl);
  if (rc != CURLE_OK) return NetworkError(rc, h.errbuf, what, url);
  long code = 0;
  curl_easy_getinfo(h.curl, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) return HttpError(code, r, o, what, url);

  nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_array()) {
    return DataLossError(fmt::format("{}: {} did not answer with a JSON list", what, url));
  }
  std::vector<RemoteFile> files;
  for (const auto& entry : json) {
    if (!entry.is_object() || entry.value("type", "") != "file") continue;
    const auto path = entry.find("path");
    if (path == entry.end() || !path->is_string()) continue;
    RemoteFile f;
    f.path = path->get<std::string>();
    if (!IsSafeRelativePath(f.path)) {
      WEFT_LOG_WARN("{}: ignoring unsafe path '{}' in the listing", r.repo, f.path);
      continue;
    }
    if (auto s = entry.find("size"); s != entry.end() && s->is_number_integer()) {
      f.size = s->get<int64_t>();
    }
    if (auto lfs = entry.find("lfs"); lfs != entry.end() && lfs->is_object()) {
      if (auto s = lfs->find("size"); s != lfs->end() && s->is_number_integer()) {
        f.size = s->get<int64_t>();
      }
      if (auto oid = lfs->find("oid"); oid != lfs->end() && oid->is_string()) {
        std::string hex = ToLower(oid->get<std::string>());
        if (hex.rfind("sha256:", 0) == 0) hex = hex.substr(7);
        if (hex.size() == 64) f.sha256 = hex;
      }
    }
    files.push_back(std::move(f));
  }
  return files;
}

// The files to fetch when the request names none, and whether the result is a directory.
StatusOr<std::pair<std::vector<RemoteFile>, bool>> ChooseFiles(
    const std::vector<RemoteFile>& listing, const HubRequest& r) {
  std::vector<const RemoteFile*> ggufs;
  for (const RemoteFile& f : listing) {
    const std::string name = ToLower(BaseName(f.path));
    // mmproj files are vision projectors, not language models.
    if (EndsWith(name, ".gguf") && name.find("mmproj") == std::string::npos) ggufs.push_back(&f);
  }
  if (!ggufs.empty()) {
    auto smallest_with = [&](std::string_view tag) -> const RemoteFile* {
      const RemoteFile* best = nullptr;
      for (const RemoteFile* f : ggufs) {
        if (!tag.empty() && ToLower(BaseName(f->path)).find(tag) == std::string::npos) continue;
        // Unknown sizes sort last.
        auto key = [](const RemoteFile* x) {
          return x->size < 0 ? INT64_MAX : x->size;
        };
        if (!best || key(f) < key(best)) best = f;
      }
      return best;
    };
    const RemoteFile* pick = smallest_with("q4_k_m");
    if (!pick) pick = smallest_with("q8_0");
    if (!pick) pick = smallest_with("");
    return std::make_pair(std::vector<RemoteFile>{*pick}, false);
  }

  std::vector<RemoteFile> chosen;
  bool has_config = false, has_weights = false;
  for (const RemoteFile& f : listing) {
    if (f.path.find('/') != std::string::npos) continue;  // the layout is top-level only
    static constexpr std::string_view kLayoutFiles[] = {
        "config.json",           "tokenizer.json",          "tokenizer_config.json",
        "generation_config.json", "model.safetensors.index.json", "tokenizer.model",
        "special_tokens_map.json"};
    const bool weights = EndsWith(f.path, ".safetensors");
    const bool layout =
        std::find(std::begin(kLayoutFiles), std::end(kLayoutFiles), f.path) != std::end(kLayoutFiles);
    if (!weights && !layout) continue;
    has_config |= f.path == "config.json";
    has_weights |= weights;
    chosen.push_back(f);
  }
  if (!has_config || !has_weights) {
    return NotFoundError(fmt::format(
        "repository '{}' (revision '{}') has no .gguf file and no Hugging Face layout "
        "(config.json + *.safetensors); name a file with hf:{}:<file>",
        r.repo, r.revision, r.repo));
  }
  return std::make_pair(std::move(chosen), true);
}

// A progress bar on one terminal line, redrawn at most a few times a second.
class ProgressBar {
 public:
  ProgressBar(std::string name, bool enabled) : name_(std::move(name)), enabled_(enabled) {}

  void Start(int64_t resumed_from, int64_t total) {
    start_ = Clock::now();
    resumed_from_ = resumed_from;
    total_ = total;
  }

  void Update(int64_t done, bool force = false) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (!force && drawn_ && now - last_draw_ < std::chrono::milliseconds(200)) return;
    last_draw_ = now;
    drawn_ = true;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? static_cast<double>(done - resumed_from_) / secs : 0.0;
    std::string line = fmt::format("{}: {:.1f}", name_, static_cast<double>(done) / 1e6);
    if (total_ > 0) {
      line += fmt::format("/{:.1f} MB {:3d}%", static_cast<double>(total_) / 1e6,
                          static_cast<int>(100.0 * static_cast<double>(done) /
                                           static_cast<double>(total_)));
    } else {
      line += " MB";
    }
    line += fmt::format(" {:.1f} MB/s", rate / 1e6);
    if (total_ > 0 && rate > 0 && done < total_) {
      const auto eta = static_cast<int64_t>(static_cast<double>(total_ - done) / rate);
      line += fmt::format(" ETA {}:{:02d}", eta / 60, eta % 60);
    }
    std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
    std::fflush(stderr);
  }

  void Finish(int64_t done) {
    if (!enabled_ || !drawn_) return;
    Update(done, /*force=*/true);
    std::fputc('\n', stderr);
  }

 private:
  std::string name_;
  bool enabled_;
  bool drawn_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_;
  int64_t resumed_from_ = 0;
  int64_t total_ = -1;
};

// State of one GET of a file into its .part.
struct Transfer {
  CURL* curl = nullptr;
  std::string part_path;
  int64_t existing = 0;        // bytes in .part when the request was sent
  int64_t expected_size = -1;  // from the listing; -1 unknown
  bool started = false;        // the first body byte has arrived
  long code = 0;
  int64_t range_start = -1;    // from the last response's Content-Range
  std::FILE* out = nullptr;
  int64_t written = 0;         // bytes in .part now
  Sha256 hasher;
  std::string error_body;
  Status io_error;
  ProgressBar* progress = nullptr;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) t->range_start = -1;  // a new response (after a redirect)
  static constexpr std::string_view kRange = "content-range:";
  if (line.size() > kRange.size() && ToLower(line.substr(0, kRange.size())) == kRange) {
    // "Content-Range: bytes N-M/T"
    const std::string value(line.substr(kRange.size()));
    long long start = -1;
    if (std::sscanf(value.c_str(), " bytes %lld-", &start) == 1) t->range_start = start;
  }
  return size * n;
}

// Hashes the first `bytes` of `path` (a .part being resumed).
Status HashExisting(const std::string& path, int64_t bytes, Sha256* hasher) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return InternalError(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  std::vector<char> buf(1 << 20);
  int64_t left = bytes;
  while (left > 0) {
    const size_t n = std::fread(buf.data(), 1, std::min<int64_t>(left, buf.size()), f);
    if (n == 0) break;
    hasher->Update(buf.data(), n);
    left -= static_cast<int64_t>(n);
  }
  std::fclose(f);
  if (left != 0) return InternalError(fmt::format("{}: shorter than expected", path));
  return Status::Ok();
}

// Called with the first body bytes: decides between appending (206 at the right
// offset) and starting over (200), and opens the .part accordingly.
bool BeginBody(Transfer* t) {
  t->started = true;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->code);
  if (t->code != 200 && t->code != 206) return true;  // an error body; kept in memory
  bool append = false;
  if (t->code == 206) {
    if (t->existing == 0 || t->range_start != t->existing) {
      t->io_error = UnavailableError(fmt::format(
          "the server answered a Range request for bytes {}- with a different range ({})",
          t->existing, t->range_start));
      return false;
    }
    append = true;
    t->io_error = HashExisting(t->part_path, t->existing, &t->hasher);
    if (!t->io_error.ok()) return false;
  }
  t->out = std::fopen(t->part_path.c_str(), append ? "ab" : "wb");
  if (!t->out) {
    t->io_error = InternalError(
        fmt::format("{}: cannot open for writing: {}", t->part_path, std::strerror(errno)));
    return false;
  }
  t->written = append ? t->existing : 0;
  curl_off_t remaining = -1;
  curl_easy_getinfo(t->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &remaining);
  const int64_t total = t->expected_size >= 0 ? t->expected_size
                        : remaining >= 0      ? t->written + remaining
                                              : -1;
  if (t->progress) t->progress->Start(t->written, total);
  return true;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  if (!t->started && !BeginBody(t)) return 0;
  if (!t->out) {  // error response: keep the start of the body for the message
    const size_t keep = std::min(bytes, kMaxErrorBodyBytes - std::min(kMaxErrorBodyBytes,
                                                                       t->error_body.size()));
    t->error_body.append(data, keep);
    return bytes;
  }
  if (std::fwrite(data, 1, bytes, t->out) != bytes) {
    t->io_error = InternalError(
        fmt::format("{}: write failed: {}", t->part_path, std::strerror(errno)));
    return 0;
  }
  t->hasher.Update(data, bytes);
  t->written += static_cast<int64_t>(bytes);
  if (t->progress) t->progress->Update(t->written);
  return bytes;
}

bool IsRetriable(CURLcode rc) {
  switch (rc) {
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

int64_t FileSize(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? -1 : static_cast<int64_t>(size);
}

// Result of one attempt: done, or worth another attempt (resuming), or an error.
enum class Attempt { kDone, kRetry };

StatusOr<Attempt> DownloadAttempt(const HubRequest& r, const DownloadOptions& o,
                                  const RemoteFile& file, const std::string& url,
                                  const std::string& part_path, ProgressBar* progress,
                                  Status* retry_reason) {
  Transfer t;
  t.part_path = part_path;
  t.expected_size = file.size;
  t.progress = progress;
  t.existing = std::max<int64_t>(0, FileSize(part_path));
  if (file.size >= 0 && t.existing > file.size) {  // not a prefix of this file
    fs::remove(part_path);
    t.existing = 0;
  }

  CurlHandle h;
  if (!h.curl) return InternalError("curl_easy_init failed");
  t.curl = h.curl;
  SetCommonOptions(h.curl, o, &h.headers, h.errbuf);
  curl_easy_setopt(h.curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h.curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h.curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h.curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h.curl, CURLOPT_HEADERDATA, &t);
  const std::string range = fmt::format("{}-", t.existing);
  if (t.existing > 0) curl_easy_setopt(h.curl, CURLOPT_RANGE, range.c_str());

  const CURLcode rc = curl_easy_perform(h.curl);
  if (t.out) std::fclose(t.out);
  if (!t.started) curl_easy_getinfo(h.curl, CURLINFO_RESPONSE_CODE, &t.code);
  const std::string what = fmt::format("downloading '{}' from '{}'", file.path, r.repo);

  if (!t.io_error.ok()) {
    if (t.io_error.code() == StatusCode::kUnavailable) {  // a bad range: start over
      fs::remove(part_path);
      *retry_reason = std::move(t.io_error).WithContext(what);
      return Attempt::kRetry;
    }
    return std::move(t.io_error).WithContext(what);
  }
  if (rc != CURLE_OK) {
    Status err = NetworkError(rc, h.errbuf, what, url);
    if (!IsRetriable(rc)) return err;
    *retry_reason = std::move(err);
    return Attempt::kRetry;
  }
  if (t.code == 416 && t.existing > 0) {
    // The .part is already as long as the file (or longer): check it as it is when
    // the size is known, else start over.
    if (file.size >= 0 && t.existing == file.size) {
      t.io_error = HashExisting(part_path, t.existing, &t.hasher);
      WEFT_RETURN_IF_ERROR(std::move(t.io_error).WithContext(what));
      t.written = t.existing;
      t.code = 206;
      t.started = true;  // the body is settled: nothing more to fetch
    } else {
      fs::remove(part_path);
      *retry_reason = UnavailableError(what + ": the server refused to resume; starting over");
      return Attempt::kRetry;
    }
  }
  if (t.code != 200 && t.code != 206) return HttpError(t.code, r, o, what, url);
  if (!t.started) {  // an empty body: the file is empty (or a 206 with nothing left)
    if (t.code == 200 || t.existing == 0) {
      std::FILE* f = std::fopen(part_path.c_str(), "wb");
      if (!f) {
        return InternalError(
            fmt::format("{}: cannot create: {}", part_path, std::strerror(errno)));
      }
      std::fclose(f);
      t.written = 0;
    } else {
      WEFT_RETURN_IF_ERROR(HashExisting(part_path, t.existing, &t.hasher).WithContext(what));
      t.written = t.existing;
    }
  }
  if (progress) progress->Finish(t.written);

  const int64_t on_disk = FileSize(part_path);
  if (file.size >= 0 && on_disk != file.size) {
    if (on_disk < file.size) {  // the server ended early without saying so: resume
      *retry_reason = UnavailableError(fmt::format(
          "{}: got {} of {} bytes", what, on_disk, file.size));
      return Attempt::kRetry;
    }
    fs::remove(part_path);
    return DataLossError(fmt::format("{}: size mismatch: expected {} bytes, got {}", what,
                                     file.size, on_disk));
  }
  if (!file.sha256.empty()) {
    const std::string actual = t.hasher.Final();
    if (actual != file.sha256) {
      fs::remove(part_path);
      return DataLossError(fmt::format(
          "{}: sha256 mismatch for '{}': expected {}, got {}; the partial file was deleted, "
          "try again",
          what, file.path, file.sha256, actual));
    }
  }
  return Attempt::kDone;
}

// Downloads one file into `dest` (via dest.part) unless it is already there.
Status DownloadFile(const HubRequest& r, const DownloadOptions& o, const RemoteFile& file,
                    const std::string& dest) {
  if (FileSize(dest) >= 0 && (file.size < 0 || FileSize(dest) == file.size)) {
    WEFT_LOG_DEBUG("{}: already downloaded", dest);
    return Status::Ok();
  }
  std::error_code ec;
  fs::create_directories(fs::path(dest).parent_path(), ec);
  if (ec) {
    return InternalError(fmt::format("cannot create the cache directory {}: {}",
                                     fs::path(dest).parent_path().string(), ec.message()));
  }
  const std::string part = dest + ".part";
  const std::string url = FileUrl(r, o, file.path);
  const bool tty = o.show_progress && isatty(fileno(stderr));
  WEFT_LOG_INFO("downloading {} -> {}", url, dest);
  Status last_error;
  for (int attempt = 0; attempt < std::max(1, o.max_attempts); ++attempt) {
    if (attempt > 0) {
      WEFT_LOG_WARN("{}; resuming (attempt {} of {})", last_error.message(), attempt + 1,
                    o.max_attempts);
      std::this_thread::sleep_for(std::chrono::milliseconds(int64_t{o.retry_delay_ms} * attempt));
    }
    ProgressBar progress(BaseName(file.path), tty);
    WEFT_ASSIGN_OR_RETURN(Attempt result,
                          DownloadAttempt(r, o, file, url, part, &progress, &last_error));
    if (result == Attempt::kDone) {
      fs::rename(part, dest, ec);
      if (ec) {
        return InternalError(
            fmt::format("cannot rename {} to {}: {}", part, dest, ec.message()));
      }
      return Status::Ok();
    }
  }
  return std::move(last_error).WithContext(
      fmt::format("giving up after {} attempts (the partial file {} is kept; run again to "
                  "resume)",
                  o.max_attempts, part));
}

Status ValidateRequest(const HubRequest& r) {
  const size_t slash = r.repo.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == r.repo.size() ||
      r.repo.find('/', slash + 1) != std::string::npos || !IsSafeRelativePath(r.repo)) {
    return InvalidArgumentError(
        fmt::format("'{}' is not a Hugging Face repository name: expected owner/repo", r.repo));
  }
  for (unsigned char c : r.repo) {
    if (!IsUnreserved(c) && c != '/') {
      return InvalidArgumentError(
          fmt::format("'{}' is not a Hugging Face repository name: bad character '{}'", r.repo,
                      static_cast<char>(c)));
    }
  }
  if (r.revision.empty() || r.revision == "." || r.revision == ".." ||
      r.revision.find('\\') != std::string::npos) {
    return InvalidArgumentError(fmt::format("bad revision '{}'", r.revision));
  }
  if (r.file && !IsSafeRelativePath(*r.file)) {
    return InvalidArgumentError(fmt::format(
        "'{}' is not a file path inside a repository (relative, without '..')", *r.file));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<HubRequest> ParseHubSpec(const std::string& text) {
  HubRequest r;
  std::string rest = text;
  if (const size_t colon = rest.find(':'); colon != std::string::npos) {
    r.file = rest.substr(colon + 1);
    rest.resize(colon);
  }
  if (const size_t at = rest.find('@'); at != std::string::npos) {
    r.revision = rest.substr(at + 1);
    rest.resize(at);
  }
  r.repo = rest;
  WEFT_RETURN_IF_ERROR(ValidateRequest(r).WithContext("hf:" + text));
  return r;
}

std::string UserCacheDir() {
  std::string base = GetEnv("XDG_CACHE_HOME");
  if (base.empty()) {
    const std::string home = GetEnv("HOME");
    if (home.empty()) return "";
    base = home + "/.cache";
  }
  return base + "/weft";
}

DownloadOptions DownloadOptions::FromEnvironment() {
  DownloadOptions o;
  if (std::string e = GetEnv("WEFT_HF_ENDPOINT"); !e.empty()) {
    o.endpoint = e;
  } else if (std::string e2 = GetEnv("HF_ENDPOINT"); !e2.empty()) {
    o.endpoint = e2;
  }
  if (std::string t = GetEnv("HF_TOKEN"); !t.empty()) {
    o.token = t;
  } else if (std::string t2 = GetEnv("HUGGING_FACE_HUB_TOKEN"); !t2.empty()) {
    o.token = t2;
  }
  o.cache_dir = UserCacheDir();
  return o;
}

std::string HubCacheDir(const HubRequest& request, const DownloadOptions& options) {
  std::string revision = request.revision;
  std::replace(revision.begin(), revision.end(), '/', '_');  // refs/pr/1 -> one directory
  return (fs::path(options.cache_dir) / "hf" / request.repo / revision).string();
}

StatusOr<std::string> DownloadFromHub(const HubRequest& request, const DownloadOptions& options) {
  WEFT_RETURN_IF_ERROR(ValidateRequest(request));
  if (options.cache_dir.empty()) {
    return FailedPreconditionError(
        "no cache directory to download into: set XDG_CACHE_HOME or HOME");
  }
  DownloadOptions o = options;
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  const std::string dir = HubCacheDir(request, o);

  if (request.file) {
    const std::string dest = (fs::path(dir) / *request.file).string();
    if (FileSize(dest) >= 0) return dest;  // only complete, verified files get this name
    // The listing gives the size and sha256 to check against; without it, fetch anyway.
    RemoteFile file{*request.file, -1, ""};
    if (auto listing = FetchListing(request, o); listing.ok()) {
      for (const RemoteFile& f : *listing) {
        if (f.path == *request.file) file = f;
      }
    } else {
      WEFT_LOG_DEBUG("no listing for {}: {}", request.repo, listing.status().message());
    }
    WEFT_RETURN_IF_ERROR(DownloadFile(request, o, file, dest));
    return dest;
  }

  WEFT_ASSIGN_OR_RETURN(std::vector<RemoteFile> listing, FetchListing(request, o));
  WEFT_ASSIGN_OR_RETURN(auto choice, ChooseFiles(listing, request));
  for (const RemoteFile& f : choice.first) {
    WEFT_RETURN_IF_ERROR(DownloadFile(request, o, f, (fs::path(dir) / f.path).string()));
  }
  if (choice.second) return dir;
  return (fs::path(dir) / choice.first.front().path).string();
}

}  // namespace weft
