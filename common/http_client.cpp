// Blocking HTTP/1.1 client: asynchronous Asio operations on a private io_context, run until they
// complete or the request's deadline passes (then the socket is closed, which aborts them). Handlers
// only touch a shared completion record, so an abandoned operation (a DNS lookup cannot be
// interrupted) can finish later without touching freed memory.
#include "common/http_client.h"

#include <sys/socket.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <optional>
#include <string>

namespace stampede::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

struct completion {
  bool done = false;
  error_code ec;
  size_t bytes = 0;
};

bool idempotent(std::string_view method) noexcept {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS" || method == "TRACE";
}

[[noreturn]] void fail(std::errc code, const std::string& what) {
  throw std::system_error(std::make_error_code(code), what);
}

}  // namespace

struct blocking_client::impl {
  impl(std::string h, uint16_t p, std::chrono::milliseconds t) : host(std::move(h)), port(p), timeout(t) {}

  std::string host;
  uint16_t port;
  std::chrono::milliseconds timeout;
  asio::io_context ctx{1};
  tcp::socket socket{ctx};
  std::optional<tcp::resolver> resolver;
  bool connected = false;
  response_parser parser;
  std::string out;
  std::array<char, 16 * 1024> in{};

  std::string where() const { return host + ":" + std::to_string(port); }

  // Runs the io_context until `c` is done or the deadline passes. On timeout, aborts everything.
  bool wait(const std::shared_ptr<completion>& c, steady::time_point deadline) {
    ctx.restart();
    while (!c->done) {
      if (ctx.run_one_until(deadline) == 0) break;
    }
    if (c->done) return true;
    abort_io();
    return false;
  }

  void abort_io() {
    error_code ignored;
    socket.close(ignored);
    connected = false;
    if (resolver) resolver->cancel();
    ctx.restart();
    // Socket operations complete at once once closed; a DNS lookup may not, and is abandoned.
    ctx.run_for(std::chrono::milliseconds{50});
  }

  void disconnect() noexcept {
    error_code ignored;
    socket.close(ignored);
    connected = false;
  }

  // The server closed our idle keep-alive connection (FIN already here) or sent stray bytes?
  bool stale() {
    char c;
    const ssize_t n = ::recv(socket.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || n > 0) return true;
    return !(errno == EAGAIN || errno == EWOULDBLOCK);
  }

  void connect(steady::time_point deadline) {
    std::vector<tcp::endpoint> endpoints;
    error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (!ec) {
      endpoints.emplace_back(address, port);
    } else {
      if (!resolver) resolver.emplace(ctx);
      auto c = std::make_shared<completion>();
      auto results = std::make_shared<tcp::resolver::results_type>();
      resolver->async_resolve(host, std::to_string(port),
                              [c, results](error_code e, tcp::resolver::results_type r) {
                                c->done = true;
                                c->ec = e;
                                *results = std::move(r);
                              });
      if (!wait(c, deadline)) fail(std::errc::timed_out, "resolving " + host + ": timed out");
      if (c->ec) throw std::system_error(c->ec, "resolving " + host);
      for (const auto& entry : *results) endpoints.push_back(entry.endpoint());
    }
    auto c = std::make_shared<completion>();
    asio::async_connect(socket, endpoints, [c](error_code e, const tcp::endpoint&) {
      c->done = true;
      c->ec = e;
    });
    if (!wait(c, deadline)) fail(std::errc::timed_out, "connecting to " + where() + ": timed out");
    if (c->ec) {
      disconnect();
      throw std::system_error(c->ec, "connecting to " + where());
    }
    socket.set_option(tcp::no_delay(true), ec);
    connected = true;
  }

  // One attempt on the current connection. Returns nullopt when the connection turned out to be dead
  // before any response byte arrived (the caller may retry on a fresh connection).
  std::optional<client_response> exchange(std::string_view method, std::string_view target,
                                          steady::time_point deadline) {
    const std::string what = std::string(method) + " " + std::string(target) + " to " + where();
    auto w = std::make_shared<completion>();
    asio::async_write(socket, asio::buffer(out), [w](error_code e, size_t n) {
      w->done = true;
      w->ec = e;
      w->bytes = n;
    });
    if (!wait(w, deadline)) fail(std::errc::timed_out, what + ": timed out sending the request");
    if (w->ec) {
      disconnect();
      return std::nullopt;
    }
    parser.reset(method == "HEAD");
    for (;;) {
      auto r = std::make_shared<completion>();
      socket.async_read_some(asio::buffer(in), [r](error_code e, size_t n) {
        r->done = true;
        r->ec = e;
        r->bytes = n;
      });
      if (!wait(r, deadline)) fail(std::errc::timed_out, what + ": no complete response in time");
      if (r->ec == asio::error::eof) {
        parser.on_eof();
      } else if (r->ec) {
        disconnect();
        if (parser.wire_bytes() == 0) return std::nullopt;
        throw std::system_error(r->ec, what + ": connection failed mid-response");
      } else {
        parser.feed(std::span<const char>(in.data(), r->bytes));  // extra bytes (unsolicited) are dropped
      }
      if (parser.error() == parse_error::unexpected_eof) {
        disconnect();
        if (parser.wire_bytes() == 0) return std::nullopt;
        fail(std::errc::connection_reset, what + ": connection closed mid-response");
      }
      if (parser.error() != parse_error::none) {
        disconnect();
        fail(std::errc::bad_message,
             what + ": malformed response (" + std::string(to_string(parser.error())) + ")");
      }
      if (parser.complete()) break;
      if (r->ec == asio::error::eof) {
        disconnect();
        fail(std::errc::connection_reset, what + ": connection closed mid-response");
      }
    }
    client_response response;
    response.status = parser.status();
    std::swap(response.headers.raw, parser.headers().raw);
    std::swap(response.body, parser.body());
    if (!parser.keep_alive()) disconnect();
    return response;
  }
};

blocking_client::blocking_client(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<impl>(std::move(host), port, timeout)) {}
blocking_client::~blocking_client() = default;
blocking_client::blocking_client(blocking_client&&) noexcept = default;
blocking_client& blocking_client::operator=(blocking_client&&) noexcept = default;

client_response blocking_client::request(std::string_view method, std::string_view target,
                                         std::string_view body,
                                         const std::vector<std::pair<std::string, std::string>>& headers) {
  impl& s = *impl_;
  const auto deadline = steady::now() + s.timeout;
  s.out.clear();
  s.out.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  bool has_host = false;
  for (const auto& [name, value] : headers) {
    if (name.size() == 4 && (name == "Host" || name == "host" || name == "HOST")) has_host = true;
    s.out.append(name).append(": ").append(value).append("\r\n");
  }
  if (!has_host) s.out.append("Host: ").append(s.where()).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    s.out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  s.out.append("\r\n").append(body);

  // A kept connection may have been closed by the server while idle: reconnect transparently. If the
  // request was already sent when that shows, retry only idempotent methods (the server may have
  // acted on a POST before dying).
  for (int attempt = 0;; ++attempt) {
    if (s.connected && s.stale()) s.disconnect();
    const bool reused = s.connected;
    if (!s.connected) s.connect(deadline);
    if (auto response = s.exchange(method, target, deadline)) return std::move(*response);
    if (!reused || attempt > 0 || !idempotent(method)) {
      fail(std::errc::connection_reset, std::string(method) + " " + std::string(target) + " to " + s.where() +
                                            ": connection closed before a response");
    }
  }
}

client_response blocking_client::post_json(std::string_view target, std::string_view json,
                                           std::vector<std::pair<std::string, std::string>> headers) {
  headers.emplace_back("Content-Type", "application/json");
  return request("POST", target, json, headers);
}

void blocking_client::set_timeout(std::chrono::milliseconds timeout) noexcept { impl_->timeout = timeout; }

void blocking_client::close() noexcept { impl_->disconnect(); }

}  // namespace stampede::http
