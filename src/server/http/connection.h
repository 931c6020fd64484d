// One accepted TCP connection of HttpTransport: reads requests with a Beast parser under
// the transport's limits and deadlines, queues up to max_pipelined of them, runs the
// handler for the oldest and writes its reply, polling its BodySource when woken.
// Backpressure: a source is polled only when no write is in flight, so a slow reader
// leaves output in the source (bounded by the request) instead of in socket buffers here.
//
// Ownership: shared by the operations in flight (each holds a shared_ptr) and, while a
// BodySource is being answered, by itself (it waits for a wake-up, not for I/O); Close()
// drops that hold. The transport keeps weak references to close what is left at Stop.
// Thread-safety: everything runs on the connection's strand, except Wake() (any thread)
// and Close() once the transport's I/O threads have stopped.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "server/http/http_message.h"
#include "server/http/transport_options.h"

namespace weft::server::http {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `open` counts live connections: incremented by the acceptor, decremented here at the end.
  Connection(boost::asio::ip::tcp::socket socket, const TransportOptions& options, const Handler& handler,
             std::shared_ptr<std::atomic<int64_t>> open);
  ~Connection();

  // Begins reading requests; with `refuse_status` != 0, answers that status (e.g. 503 when
  // over the connection cap) and closes instead.
  void Start(int refuse_status = 0, std::string refuse_message = "");
  void Wake();  // a source has output: poll it soon; any thread
  // Closes now: sources in progress see Closed(false).
  void Close();

 private:
  using Clock = std::chrono::steady_clock;
  struct Exchange {
    HttpRequest request;  // moved into the handler when dispatched
    int version = 11;
    bool keep_alive = true;
    bool dispatched = false;
    Reply reply;
    bool head_sent = false;
    std::string gathered;  // a non-streamed source's body so far
  };

  void ReadNext();
  void OnHeader(boost::system::error_code ec);
  void OnBody(boost::system::error_code ec);
  void OnReadError(boost::system::error_code ec);
  void Pump();
  std::string Produce(Exchange& x, bool* end);
  void Write(std::string bytes, bool ends_exchange);
  void OnWrite(boost::system::error_code ec, bool ends_exchange);
  // Answers `status` after what is queued, then closes (reading stops now).
  void Fail(int status, std::string message);
  // After the last response: stop sending, read and drop what the client still sends for
  // a moment so that the response is not lost to a reset, then close.
  void Linger();
  // Reads and drops bytes until EOF (then closes): how a connection that takes no more
  // requests still notices its client leaving, and how it lingers.
  void DrainRead();
  void ArmTimer();
  void OnTimer();

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  const TransportOptions& opt_;
  const Handler& handler_;
  std::shared_ptr<std::atomic<int64_t>> open_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::deque<Exchange> queue_;
  std::string out_;  // the bytes of the write in flight
  std::shared_ptr<Connection> hold_;  // set while a dispatched source is answered
  std::string drain_buf_;
  size_t drained_ = 0;
  bool reading_ = false;
  bool reading_header_ = false;
  bool writing_ = false;
  bool no_more_requests_ = false;  // Connection: close, HTTP/1.0 without keep-alive, or an error
  bool lingering_ = false;
  bool closed_ = false;
  Clock::time_point read_deadline_ = Clock::time_point::max();
  Clock::time_point write_deadline_ = Clock::time_point::max();
  Clock::time_point armed_ = Clock::time_point::max();
  std::atomic<bool> wake_pending_{false};
};

}  // namespace weft::server::http
