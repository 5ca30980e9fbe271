// Small blocking socket helpers for HTTP tests (real sockets on 127.0.0.1, every read bounded).
#pragma once

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <string>
#include <string_view>

#include "common/http_parse.h"

namespace stampede::http::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A plain TCP connection with a receive timeout, for sending exact bytes and reading raw responses.
class raw_connection {
 public:
  explicit raw_connection(uint16_t port, std::chrono::milliseconds read_timeout = std::chrono::seconds{5})
      : socket_(ctx_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{};
    tv.tv_sec = read_timeout.count() / 1000;
    tv.tv_usec = (read_timeout.count() % 1000) * 1000;
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  // false if the peer has closed or reset the connection.
  bool send(std::string_view bytes) {
    boost::system::error_code ec;
    asio::write(socket_, asio::buffer(bytes.data(), bytes.size()), ec);
    return !ec;
  }

  // Reads one response (HEAD responses: pass head = true). Returns nullopt-like empty status 0 on EOF.
  struct result {
    int status = 0;
    bool keep_alive = false;
    std::string headers;
    std::string body;
    parse_error error = parse_error::none;
  };
  result read_response(bool head = false) {
    response_parser parser;
    parser.reset(head);
    for (;;) {
      if (!leftover_.empty()) {
        const size_t used = parser.feed(leftover_);
        leftover_.erase(0, used);
        if (parser.complete() || parser.error() != parse_error::none) break;
      }
      char buf[16384];
      boost::system::error_code ec;
      const size_t n = socket_.read_some(asio::buffer(buf), ec);
      if (ec) {
        parser.on_eof();
        break;
      }
      leftover_.append(buf, n);
    }
    result r;
    r.error = parser.error();
    if (parser.complete()) {
      r.status = parser.status();
      r.keep_alive = parser.keep_alive();
      r.headers = parser.headers().raw;
      r.body = parser.body();
    }
    return r;
  }

  // True if the server closes the connection (EOF or reset) before the receive timeout.
  bool closed_by_peer() {
    char buf[4096];
    for (;;) {
      boost::system::error_code ec;
      socket_.read_some(asio::buffer(buf), ec);
      if (ec == asio::error::eof || ec == asio::error::connection_reset) return true;
      if (ec) return false;  // timeout
    }
  }

  tcp::socket& socket() { return socket_; }

 private:
  asio::io_context ctx_;
  tcp::socket socket_;
  std::string leftover_;
};

}  // namespace stampede::http::test
