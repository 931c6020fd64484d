// HttpTransport: an event-driven HTTP/1.1 server on Boost.Asio, with Boost.Beast's
// request parser. A fixed set of I/O threads serves every connection, so idle and slow
// clients cost memory (a socket, a parser, a timer), never a thread. Each connection
// reads requests (pipelined ones too, up to a depth), hands each to the Handler in order
// and writes the replies in order; a Reply with a BodySource is written as it produces.
//
//   HttpTransport t(options, handler);
//   Status s = t.Listen();   // binds; an address in use is an error naming it
//   t.Start();               // I/O threads begin accepting
//   t.Stop();                // closes every connection (sources get Closed(false)), joins
//
// The handler runs on an I/O thread and must not block: long work goes into a BodySource.
// Thread-safety: Listen/Start/Stop from one controlling thread; open_connections() from any.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "server/http/http_message.h"
#include "server/http/transport_options.h"
#include "weft/status.h"

namespace weft::server::http {

class HttpTransport {
 public:
  HttpTransport(TransportOptions options, Handler handler);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  Status Listen();
  int port() const { return port_; }
  void Start();
  void Stop();  // idempotent
  int64_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace weft::server::http
