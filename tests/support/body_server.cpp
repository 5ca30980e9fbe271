#include "tests/support/body_server.h"


#include <algorithm>
#include <charconv>
#include <string_view>

namespace stampede::testing {

namespace {

constexpr size_t chunk_size = 64 * 1024;

// The n=N parameter of a request target ("/bytes?n=1000"), 0 if absent or malformed.
uint64_t query_n(std::string_view target) {
  const size_t at = target.find("n=");
  if (at == std::string_view::npos) return 0;
  uint64_t n = 0;
  const std::string_view digits = target.substr(at + 2);
  std::from_chars(digits.data(), digits.data() + digits.size(), n);
  return n;
}

std::string hex(size_t n) {
  char text[20];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, n, 16);
  return std::string(text, end);
}

}  // namespace

body_server::body_server() : server_([this](raw_connection& c) { serve(c); }) {}

std::string body_server::base_url() const { return "http://127.0.0.1:" + std::to_string(port()); }

void body_server::serve(raw_connection& c) {
  const std::string filler(chunk_size, 'b');
  for (;;) {
    const std::string line = c.read_request_line();
    if (line.empty()) return;
    ++requests_;
    const std::string target = request_target(line);
    const std::string_view path = std::string_view(target).substr(0, target.find('?'));
    if (path == "/endless") {
      const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      const std::string framed = hex(chunk_size) + "\r\n" + filler + "\r\n";
      if (!c.send(head)) return;
      while (c.send(framed)) body_bytes_ += chunk_size;
      return;
    }
    if (path == "/bytes") {
      uint64_t left = query_n(target);
      const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(left) + "\r\n\r\n";
      if (!c.send(head)) return;
      while (left > 0) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk_size));
        if (!c.send(std::string_view(filler).substr(0, n))) return;
        body_bytes_ += n;
        left -= n;
      }
      continue;
    }
    if (path == "/chunked") {
      uint64_t left = query_n(target);
      const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      if (!c.send(head)) return;
      const std::string data(chunk_size, 'c');
      while (left > 0) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk_size));
        const std::string framed = hex(n) + "\r\n" + data.substr(0, n) + "\r\n";
        if (!c.send(framed)) return;
        body_bytes_ += n;
        left -= n;
      }
      if (!c.send("0\r\n\r\n")) return;
      continue;
    }
    static constexpr std::string_view ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    if (!c.send(ok)) return;
  }
}

}  // namespace stampede::testing
