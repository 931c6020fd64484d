#include "server/http/http_wire.h"

#include <gtest/gtest.h>

namespace weft::server::http {
namespace {

TEST(HttpWire, LengthFramedHead) {
  HttpResponse r;
  r.status = 404;
  r.headers = {{"Allow", "GET"}};
  EXPECT_EQ(SerializeHead(r, 11, true, Framing::kLength, 12),
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 12\r\nAllow: GET\r\n\r\n");
}

TEST(HttpWire, ChunkedAndClose) {
  HttpResponse r;
  r.content_type = "text/event-stream";
  EXPECT_EQ(SerializeHead(r, 11, false, Framing::kChunked, 0),
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
  // HTTP/1.0 streams: no chunking, the end of the body is the end of the connection.
  EXPECT_EQ(SerializeHead(r, 10, false, Framing::kClose, 0),
            "HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(SerializeHead(HttpResponse{}, 10, true, Framing::kLength, 0),
            "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
}

TEST(HttpWire, Chunks) {
  std::string out;
  AppendChunk(&out, "");
  EXPECT_EQ(out, "");  // an empty chunk would end the body
  AppendChunk(&out, std::string(26, 'x'));
  EXPECT_EQ(out, "1a\r\n" + std::string(26, 'x') + "\r\n");
}

TEST(HttpWire, RequestHeaderLookupIgnoresCase) {
  HttpRequest q;
  q.headers = {{"Content-Type", "a"}, {"content-type", "b"}};
  EXPECT_EQ(q.Header("CONTENT-TYPE"), "a");
  EXPECT_EQ(q.Header("Accept"), "");
  EXPECT_TRUE(EqualsIgnoreCase("Keep-Alive", "keep-alive"));
  EXPECT_FALSE(EqualsIgnoreCase("a", "ab"));
}

}  // namespace
}  // namespace weft::server::http
