#include "server/http/http_transport.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <fmt/format.h>

#include <mutex>
#include <vector>

#include "server/http/connection.h"

namespace weft::server::http {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

struct HttpTransport::Impl {
  Impl(TransportOptions o, Handler h)
      : opt(std::move(o)), handler(std::move(h)), ioc(std::max(1, opt.io_threads)),
        acceptor(asio::make_strand(ioc)), retry(acceptor.get_executor()) {}

  void Accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) {
        // Out of file descriptors, most likely: back off instead of spinning.
        retry.expires_after(std::chrono::milliseconds(50));
        retry.async_wait([this](error_code wec) {
          if (!wec) Accept();
        });
        return;
      }
      error_code ignored;
      // Stream chunks are small writes: without TCP_NODELAY, Nagle holds each one back
      // until the previous is acknowledged (~40 ms with a client's delayed ACK).
      socket.set_option(tcp::no_delay(true), ignored);
      const bool over = open->fetch_add(1) >= static_cast<int64_t>(opt.max_connections);
      auto c = std::make_shared<Connection>(std::move(socket), opt, handler, open);
      Track(c);
      if (over) {
        c->Start(503, fmt::format("the server has {} connections open, its limit; retry later", opt.max_connections));
      } else {
        c->Start();
      }
      Accept();
    });
  }

  // Remembers `c` for Stop; forgets the closed ones now and then (amortised O(1)).
  void Track(const std::shared_ptr<Connection>& c) {
    std::lock_guard<std::mutex> lock(mu);
    if (connections.size() >= 2 * prune_at) {
      std::erase_if(connections, [](const std::weak_ptr<Connection>& w) { return w.expired(); });
      prune_at = std::max<size_t>(64, connections.size());
    }
    connections.push_back(c);
  }

  TransportOptions opt;
  Handler handler;
  std::mutex mu;
  std::vector<std::weak_ptr<Connection>> connections;  // guarded by mu
  size_t prune_at = 64;                                // guarded by mu
  asio::io_context ioc;
  tcp::acceptor acceptor;
  asio::steady_timer retry;
  std::shared_ptr<std::atomic<int64_t>> open = std::make_shared<std::atomic<int64_t>>(0);
  std::vector<std::thread> threads;
};

HttpTransport::HttpTransport(TransportOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpTransport::~HttpTransport() { Stop(); }

Status HttpTransport::Listen() {
  const TransportOptions& opt = impl_->opt;
  error_code ec;
  tcp::resolver resolver(impl_->ioc);
  auto results = resolver.resolve(opt.host, std::to_string(opt.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return InvalidArgumentError(fmt::format("cannot listen on {}: not an address of this host ({})", opt.host, ec.message()));
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  tcp::acceptor& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  // SO_REUSEADDR only (a restart may bind while old connections sit in TIME_WAIT); never
  // SO_REUSEPORT, with which a second server on the port would silently share it.
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    const std::string why = ec == asio::error::address_in_use ? "the port is in use (another server?)" : ec.message();
    a.close();
    return UnavailableError(fmt::format("cannot listen on {}:{}: {}", opt.host, opt.port, why));
  }
  port_ = a.local_endpoint().port();
  return Status::Ok();
}

void HttpTransport::Start() {
  impl_->Accept();
  for (int i = 0; i < std::max(1, impl_->opt.io_threads); ++i) {
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  }
}

void HttpTransport::Stop() {
  if (!impl_) return;
  asio::post(impl_->acceptor.get_executor(), [impl = impl_.get()] {
    error_code ignored;
    impl->acceptor.close(ignored);
    impl->retry.cancel();
  });
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  // No I/O thread runs now: close what is left from here (sources see Closed(false)),
  // then destroying the io_context frees the handlers that still hold connections.
  std::vector<std::weak_ptr<Connection>> left;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    left.swap(impl_->connections);
  }
  for (auto& w : left) {
    if (auto c = w.lock()) c->Close();
  }
  impl_.reset();
}

int64_t HttpTransport::open_connections() const { return impl_ ? impl_->open->load() : 0; }

}  // namespace weft::server::http
