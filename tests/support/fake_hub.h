// FakeHub: a Hugging Face hub on 127.0.0.1 (cpp-httplib) for tests of the downloader
// and of the quick start, never the internet: the tree listing API and resolve/ (with
// Range, redirects, dropped connections and a required token when asked). Test-only;
// its settings are set before requests, requests() may be read from the test thread.
#pragma once

#include <httplib.h>

#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/sha256.h"

namespace weft::testing {

// One repository (`repo`, "owner/repo" unless set) at revision "main", served the way the
// hub serves it.
// Range requests are answered here (not by cpp-httplib): bodies go out through a
// chunked content provider, which cpp-httplib leaves alone.
class FakeHub {
 public:
  struct File {
    File() = default;
    File(std::string c, bool l = true, std::optional<std::string> sha = std::nullopt)
        : content(std::move(c)), lfs(l), listed_sha(std::move(sha)) {}
    std::string content;
    bool lfs = true;                        // list an lfs object with the sha256
    std::optional<std::string> listed_sha;  // override the listed sha256
  };
  struct Seen {
    std::string path;
    std::string range;
    std::string authorization;
  };

  FakeHub() {
    server_.Get(R"(/api/models/([^/]+)/([^/]+)/tree/([^/]+))",
                [this](const httplib::Request& req, httplib::Response& res) { Listing(req, res); });
    server_.Get(R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))",
                [this](const httplib::Request& req, httplib::Response& res) { Resolve(req, res); });
    server_.Get(R"(/cdn/(.+))",
                [this](const httplib::Request& req, httplib::Response& res) { Cdn(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~FakeHub() { Stop(); }

  void Stop() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Settings; change them before requests are made.
  std::string repo = "owner/repo";
  std::map<std::string, File> files;
  std::optional<std::string> required_token;  // 401 unless "Bearer <token>"
  int cut_first_file_request_after = -1;      // first file GET: send this many bytes, then drop
  bool ignore_range = false;                  // answer Range requests with the whole file
  bool redirect_files = false;                // resolve/ answers 302 to /cdn/

  std::vector<Seen> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  std::vector<Seen> file_requests() const {
    std::vector<Seen> out;
    for (const Seen& s : requests()) {
      if (s.path.find("/api/") != 0) out.push_back(s);
    }
    return out;
  }

 private:
  bool Record(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back({req.path, req.get_header_value("Range"),
                     req.get_header_value("Authorization")});
    if (required_token && req.get_header_value("Authorization") != "Bearer " + *required_token) {
      res.status = 401;
      res.set_content(R"({"error":"Invalid username or password."})", "application/json");
      return false;
    }
    return true;
  }

  void Listing(const httplib::Request& req, httplib::Response& res) {
    if (!Record(req, res)) return;
    if (std::string(req.matches[1]) + "/" + std::string(req.matches[2]) != repo || req.matches[3] != "main") {
      res.status = 404;
      res.set_content(R"({"error":"Repository not found"})", "application/json");
      return;
    }
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [path, f] : files) {
      nlohmann::json e = {{"type", "file"}, {"path", path},
                          {"size", f.content.size()}, {"oid", "0123abcd"}};
      if (f.lfs) {
        e["lfs"] = {{"oid", f.listed_sha.value_or(Sha256Hex(f.content))},
                    {"size", f.content.size()},
                    {"pointerSize", 134}};
      }
      list.push_back(e);
    }
    list.push_back({{"type", "directory"}, {"path", "original"}, {"size", 0}});
    res.set_content(list.dump(), "application/json");
  }

  void Resolve(const httplib::Request& req, httplib::Response& res) {
    if (!Record(req, res)) return;
    if (std::string(req.matches[1]) + "/" + std::string(req.matches[2]) != repo || req.matches[3] != "main") {
      res.status = 404;
      res.set_content("Repository not found", "text/plain");
      return;
    }
    if (redirect_files) {
      res.set_redirect("/cdn/" + std::string(req.matches[4]));
      return;
    }
    Serve(req, res, req.matches[4]);
  }

  void Cdn(const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back({req.path, req.get_header_value("Range"),
                       req.get_header_value("Authorization")});
    }
    Serve(req, res, req.matches[1]);
  }

  void Serve(const httplib::Request& req, httplib::Response& res, const std::string& path) {
    auto it = files.find(path);
    if (it == files.end()) {
      res.status = 404;
      res.set_content("Entry not found", "text/plain");
      return;
    }
    const std::string& content = it->second.content;
    bool cut = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cut_first_file_request_after >= 0) {
        cut = true;
        cut_after_ = static_cast<size_t>(cut_first_file_request_after);
        cut_first_file_request_after = -1;
      }
    }
    if (cut) {
      // Promise the whole file, send a prefix, then drop the connection.
      const size_t n = cut_after_;
      res.set_content_provider(content.size(), "application/octet-stream",
                               [&content, n](size_t, size_t, httplib::DataSink& sink) {
                                 sink.write(content.data(), n);
                                 return false;
                               });
      return;
    }
    size_t offset = 0;
    const std::string range = req.get_header_value("Range");
    if (!range.empty() && !ignore_range) {
      // Only the "bytes=N-" form the downloader sends.
      if (range.rfind("bytes=", 0) != 0 || range.back() != '-') {
        res.status = 400;
        return;
      }
      offset = std::stoull(range.substr(6, range.size() - 7));
      if (offset >= content.size()) {
        res.status = 416;
        res.set_header("Content-Range", "bytes */" + std::to_string(content.size()));
        return;
      }
      res.status = 206;
      res.set_header("Content-Range", "bytes " + std::to_string(offset) + "-" +
                                          std::to_string(content.size() - 1) + "/" +
                                          std::to_string(content.size()));
    } else {
      res.status = 200;
    }
    std::string body = content.substr(offset);
    res.set_chunked_content_provider("application/octet-stream",
                                     [body = std::move(body)](size_t, httplib::DataSink& sink) {
                                       sink.write(body.data(), body.size());
                                       sink.done();
                                       return true;
                                     });
  }

  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Seen> seen_;
  size_t cut_after_ = 0;
};

}  // namespace weft::testing
