#include "server/http/connection.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include <exception>
#include <iterator>

#include "server/http/http_wire.h"

namespace weft::server::http {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// What a client may still send after its answer (say the rest of a body over the limit)
// before we close; time-bounded by kLingerTime as well.
constexpr size_t kLingerBytes = 16u << 20;
constexpr std::chrono::milliseconds kLingerTime{1000};

HttpResponse ErrorResponse(const TransportOptions& opt, int status, std::string message) {
  if (opt.error_response) return opt.error_response(status, std::move(message));
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain";
  r.body = std::move(message) + "\n";
  return r;
}

}  // namespace

Connection::Connection(asio::ip::tcp::socket socket, const TransportOptions& options, const Handler& handler,
                       std::shared_ptr<std::atomic<int64_t>> open)
    : socket_(std::move(socket)), timer_(socket_.get_executor()), opt_(options), handler_(handler), open_(std::move(open)) {}

Connection::~Connection() {
  // The transport stopping destroys connections with work outstanding.
  for (Exchange& x : queue_) {
    if (x.dispatched && x.reply.source) x.reply.source->Closed(false);
  }
  open_->fetch_sub(1);
}

void Connection::Start(int refuse_status, std::string refuse_message) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), refuse_status, msg = std::move(refuse_message)]() mutable {
    if (refuse_status != 0) {
      self->Fail(refuse_status, std::move(msg));
    } else {
      self->ReadNext();
    }
  });
}

void Connection::Wake() {
  if (wake_pending_.exchange(true)) return;
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->Pump(); });
}

void Connection::ReadNext() {
  if (closed_ || reading_ || lingering_) return;
  if (no_more_requests_) {
    if (!queue_.empty()) DrainRead();  // to see the client leave while it is answered
    return;
  }
  if (queue_.size() >= opt_.max_pipelined) return;
  reading_ = reading_header_ = true;
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(opt_.max_header_bytes));
  parser_->body_limit(opt_.max_body_bytes);
  // Only an idle connection waits against the clock; one with a request in progress
  // reads ahead (to see pipelined requests and a client going away) without a deadline.
  read_deadline_ = queue_.empty() ? Clock::now() + opt_.header_timeout : Clock::time_point::max();
  ArmTimer();
  bhttp::async_read_header(socket_, buffer_, *parser_,
                           [self = shared_from_this()](error_code ec, size_t) { self->OnHeader(ec); });
}

void Connection::OnReadError(error_code ec) {
  if (closed_ || ec == asio::error::operation_aborted) return;
  if (ec == bhttp::error::header_limit) {
    return Fail(431, "the request header is over the " + std::to_string(opt_.max_header_bytes) + "-byte limit");
  }
  if (ec == bhttp::error::body_limit) {
    return Fail(413, "the request body is over the " + std::to_string(opt_.max_body_bytes) + "-byte limit");
  }
  const bool parse_error = ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
  if (!parse_error || ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) {
    // The client went away (or half-closed, which HTTP/1.1 clients do only when leaving):
    // whatever it asked for is abandoned.
    return Close();
  }
  Fail(400, "malformed HTTP request: " + ec.message());
}

void Connection::OnHeader(error_code ec) {
  reading_ = reading_header_ = false;
  if (ec) return OnReadError(ec);
  if (closed_) return;
  auto& msg = parser_->get();
  if (static_cast<size_t>(std::distance(msg.begin(), msg.end())) > opt_.max_header_count) {
    return Fail(431, "the request has more than " + std::to_string(opt_.max_header_count) + " header fields");
  }
  if (msg.version() != 10 && msg.version() != 11) return Fail(505, "only HTTP/1.0 and HTTP/1.1 are served");
  const auto encoding = msg[bhttp::field::content_encoding];
  if (!encoding.empty() && !EqualsIgnoreCase({encoding.data(), encoding.size()}, "identity")) {
    return Fail(415, "Content-Encoding '" + std::string(encoding) + "' is not accepted; send the body uncompressed");
  }
  read_deadline_ = Clock::now() + opt_.body_timeout;
  ArmTimer();
  if (parser_->is_done()) return OnBody({});
  reading_ = true;
  const auto expect = msg[bhttp::field::expect];
  if (EqualsIgnoreCase({expect.data(), expect.size()}, "100-continue") && queue_.empty() && !writing_) {
    writing_ = true;
    asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this()](error_code wec, size_t) {
                        self->writing_ = false;
                        if (wec) return self->Close();
                        self->Pump();
                      });
  }
  bhttp::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](error_code rec, size_t) { self->OnBody(rec); });
}

void Connection::OnBody(error_code ec) {
  reading_ = false;
  if (ec) return OnReadError(ec);
  if (closed_) return;
  auto msg = parser_->release();
  parser_.reset();
  Exchange x;
  x.request.method = std::string(msg.method_string());
  x.request.target = std::string(msg.target());
  x.request.path = x.request.target.substr(0, x.request.target.find('?'));
  x.request.version = static_cast<int>(msg.version());
  for (const auto& f : msg) x.request.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  x.request.body = std::move(msg.body());
  x.version = x.request.version;
  x.keep_alive = msg.keep_alive();
  if (!x.keep_alive) no_more_requests_ = true;
  read_deadline_ = Clock::time_point::max();
  queue_.push_back(std::move(x));
  ArmTimer();
  Pump();
  ReadNext();
}

std::string Connection::Produce(Exchange& x, bool* end) {
  *end = false;
  const HttpResponse& head = x.reply.response;
  if (!x.reply.source) {
    std::string out = SerializeHead(head, x.version, x.keep_alive, Framing::kLength, head.body.size());
    out += head.body;
    *end = true;
    return out;
  }
  std::string piece;
  const BodySource::State state = x.reply.source->Poll(&piece);
  if (!x.reply.stream) {
    x.gathered += piece;
    if (state != BodySource::State::kEnd) return {};
    std::string out = SerializeHead(head, x.version, x.keep_alive, Framing::kLength, x.gathered.size());
    out += x.gathered;
    *end = true;
    return out;
  }
  const Framing framing = x.version == 10 ? Framing::kClose : Framing::kChunked;
  std::string out;
  if (!x.head_sent) {
    out = SerializeHead(head, x.version, x.keep_alive, framing, 0);
    x.head_sent = true;
  }
  if (framing == Framing::kChunked) {
    AppendChunk(&out, piece);
  } else {
    out += piece;
  }
  if (state == BodySource::State::kEnd) {
    if (framing == Framing::kChunked) out += kLastChunk;
    *end = true;
  }
  return out;
}

void Connection::Pump() {
  wake_pending_.store(false);
  if (closed_ || lingering_ || writing_ || queue_.empty()) return;
  Exchange& x = queue_.front();
  if (!x.dispatched) {
    x.dispatched = true;
    try {
      x.reply = handler_(std::move(x.request));
    } catch (const std::exception& e) {
      x.reply = Reply{ErrorResponse(opt_, 500, std::string("internal error: ") + e.what()), nullptr, false};
    }
    // HTTP/1.0 has no chunks: a stream is delimited by closing the connection.
    if (x.reply.source && x.reply.stream && x.version == 10) {
      x.keep_alive = false;
      no_more_requests_ = true;
    }
    if (x.reply.source) {
      hold_ = shared_from_this();
      x.reply.source->Start([weak = weak_from_this()] {
        if (auto self = weak.lock()) self->Wake();
      });
    }
  }
  bool end = false;
  std::string bytes = Produce(x, &end);
  if (bytes.empty() && !end) return;  // the source wakes us when it has more
  Write(std::move(bytes), end);
}

void Connection::Write(std::string bytes, bool ends_exchange) {
  writing_ = true;
  out_ = std::move(bytes);
  write_deadline_ = Clock::now() + opt_.write_timeout;
  ArmTimer();
  asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this(), ends_exchange](error_code ec, size_t) {
    self->OnWrite(ec, ends_exchange);
  });
}

void Connection::OnWrite(error_code ec, bool ends_exchange) {
  writing_ = false;
  write_deadline_ = Clock::time_point::max();
  if (closed_) return;
  if (ec) return Close();
  if (ends_exchange) {
    Exchange x = std::move(queue_.front());
    queue_.pop_front();
    if (x.reply.source) x.reply.source->Closed(true);
    auto self = std::move(hold_);  // released when this handler returns
    if (!x.keep_alive) return Linger();
    if (queue_.empty() && reading_header_) read_deadline_ = Clock::now() + opt_.header_timeout;
    ReadNext();
  }
  ArmTimer();
  Pump();
}

void Connection::Fail(int status, std::string message) {
  no_more_requests_ = true;
  Exchange x;
  x.version = parser_ && parser_->get().version() == 10 ? 10 : 11;
  x.keep_alive = false;
  x.dispatched = true;
  x.reply.response = ErrorResponse(opt_, status, std::move(message));
  queue_.push_back(std::move(x));
  read_deadline_ = Clock::time_point::max();
  ArmTimer();
  Pump();
}

void Connection::Linger() {
  lingering_ = true;
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  read_deadline_ = Clock::now() + kLingerTime;
  ArmTimer();
  DrainRead();
}

void Connection::DrainRead() {
  if (reading_ || closed_) return;
  reading_ = true;
  drain_buf_.resize(16 << 10);
  socket_.async_read_some(asio::buffer(drain_buf_), [self = shared_from_this()](error_code ec, size_t n) {
    self->reading_ = false;
    if (self->closed_) return;
    self->drained_ += n;
    if (ec || self->drained_ > kLingerBytes) return self->Close();
    self->DrainRead();
  });
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  std::deque<Exchange> abandoned = std::move(queue_);
  queue_.clear();
  for (Exchange& x : abandoned) {
    if (x.dispatched && x.reply.source) x.reply.source->Closed(false);
  }
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  timer_.cancel();
  armed_ = Clock::time_point::max();
  hold_.reset();  // the caller holds a reference of its own
}

void Connection::ArmTimer() {
  const Clock::time_point deadline = std::min(read_deadline_, write_deadline_);
  if (closed_ || deadline == armed_) return;
  armed_ = deadline;
  if (deadline == Clock::time_point::max()) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(deadline);
  timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->OnTimer();
  });
}

void Connection::OnTimer() {
  armed_ = Clock::time_point::max();
  if (closed_) return;
  const Clock::time_point now = Clock::now();
  if (now >= read_deadline_ || now >= write_deadline_) return Close();  // too slow: drop it
  ArmTimer();
}

}  // namespace weft::server::http
