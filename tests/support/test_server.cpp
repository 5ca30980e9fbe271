// The endpoints of test_server.h on an asynchronous http::server handler (/delay replies from a timer).
#include "tests/support/test_server.h"

#include <boost/json.hpp>
#include <charconv>
#include <mutex>

#include "common/cookie_header.h"

namespace stampede::testing {

namespace json = boost::json;

namespace {

// Parses a non-negative integer in [0, max]; nullopt otherwise.
std::optional<long> parse_bounded(std::string_view text, long max) {
  long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < 0 || value > max) return std::nullopt;
  return value;
}

json::string_view js(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace

const std::string& test_server::hello_body() {
  static const std::string body = [] {
    std::string b = "Hello from stampede's test server.\n";
    while (b.size() < 614) b += "0123456789abcdefghijklmnopqrstuvwxyz\n";
    b.resize(614);
    b += "\n";
    return b;
  }();
  return body;
}

struct test_server::impl {
  mutable std::mutex mutex;
  std::map<std::string, uint64_t> hits;
  uint64_t total = 0;
  std::unique_ptr<http::server> server;

  uint64_t count(std::string_view path) {
    std::lock_guard lock(mutex);
    ++total;
    return ++hits[std::string(path)];
  }

  void handle(http::request& req, const http::responder& reply) {
    const std::string_view path = req.path();
    if (path == "/stats" && req.method == "GET") return reply(stats_response());
    const uint64_t hits_here = count(path);

    if (path == "/hello" && (req.method == "GET" || req.method == "HEAD")) {
      return reply(http::response::text(200, hello_body()));
    }
    if (path == "/echo") return reply(echo(req));
    if (path.starts_with("/status/")) {
      const auto code = parse_bounded(path.substr(8), 999);
      if (!code || *code < 100)
        return reply(http::response::error(400, "bad_status", "expected /status/100..999"));
      const int status = static_cast<int>(*code);
      return reply(http::response::json(status, "{\"status\":" + std::to_string(status) + "}"));
    }
    if (path == "/delay") {
      const auto ms = parse_bounded(req.query_param("ms"), 60'000);
      if (!ms) return reply(http::response::error(400, "bad_delay", "expected /delay?ms=0..60000"));
      return reply.after(std::chrono::milliseconds{*ms},
                         http::response::json(200, "{\"delayed_ms\":" + std::to_string(*ms) + "}"));
    }
    if (path == "/chunked") {
      const std::string n_text = req.has_query_param("n") ? req.query_param("n") : "3";
      const auto n = parse_bounded(n_text, 10'000);
      if (!n) return reply(http::response::error(400, "bad_count", "expected /chunked?n=0..10000"));
      http::response r = http::response::text(200, "");
      for (long i = 0; i < *n; ++i) r.chunks.push_back("chunk " + std::to_string(i) + "\n");
      if (r.chunks.empty()) r.chunks.emplace_back();  // still chunked: just the last-chunk
      return reply(std::move(r));
    }
    if (path == "/set-cookie") {
      http::response r = http::response::json(200, "{\"set\":true}");
      std::string_view query = req.query();
      while (!query.empty()) {
        const size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (!pair.empty()) r.headers.emplace_back("Set-Cookie", std::string(pair) + "; Path=/");
      }
      return reply(std::move(r));
    }
    if (path == "/cookies") {
      json::object cookies;
      http::for_each_cookie(req.header("cookie"), [&](std::string_view name, std::string_view value) {
        cookies[js(name)] = js(value);
        return false;
      });
      json::object o{{"cookie", js(req.header("cookie"))}, {"cookies", std::move(cookies)}};
      return reply(http::response::json(200, json::serialize(o)));
    }
    if (path == "/close") {
      http::response r = http::response::json(200, "{\"closing\":true}");
      r.close = true;
      return reply(std::move(r));
    }
    if (path == "/json" && req.method == "GET") {
      return reply(http::response::json(
          200, R"({"products":[{"id":1,"name":"Espresso cup","price_cents":1200,"stock":40},)"
               R"({"id":2,"name":"Milk jug","price_cents":1850,"stock":12},)"
               R"({"id":3,"name":"Grinder","price_cents":8900,"stock":0}],"currency":"EUR","page":1})"));
    }
    if (path == "/counter") {
      return reply(http::response::json(200, "{\"count\":" + std::to_string(hits_here) + "}"));
    }
    reply(http::response::error(404, "not_found", path));
  }

  static http::response echo(const http::request& req) {
    json::object headers;
    req.headers.for_each([&](std::string_view name, std::string_view value) {
      auto it = headers.find(js(name));
      if (it == headers.end()) {
        headers[js(name)] = js(value);
      } else {
        std::string joined(it->value().as_string().c_str());
        joined.append(", ").append(value);
        it->value() = js(joined);
      }
    });
    json::object o{{"method", js(req.method)}, {"target", js(req.target)},      {"path", js(req.path())},
                   {"query", js(req.query())}, {"headers", std::move(headers)}, {"body", js(req.body)}};
    return http::response::json(200, json::serialize(o));
  }

  http::response stats_response() const {
    json::object paths;
    json::object o;
    {
      std::lock_guard lock(mutex);
      for (const auto& [path, n] : hits) paths[path] = n;
      o["total"] = total;
    }
    o["paths"] = std::move(paths);
    return http::response::json(200, json::serialize(o));
  }
};

test_server::test_server(int threads, uint16_t port)
    : test_server(http::server_options{.port = port, .threads = threads}) {}

test_server::test_server(http::server_options options) : impl_(std::make_unique<impl>()) {
  options.address = options.address.empty() ? "127.0.0.1" : options.address;
  impl* self = impl_.get();
  impl_->server = std::make_unique<http::server>(
      std::move(options),
      http::async_handler([self](http::request& req, http::responder reply) { self->handle(req, reply); }));
  impl_->server->start();
}

test_server::~test_server() { stop(); }

uint16_t test_server::port() const noexcept { return impl_->server->port(); }
std::string test_server::base_url() const { return "http://127.0.0.1:" + std::to_string(port()); }
void test_server::stall(std::chrono::nanoseconds duration) { impl_->server->pause(duration); }

uint64_t test_server::hits(const std::string& path) const {
  std::lock_guard lock(impl_->mutex);
  const auto it = impl_->hits.find(path);
  return it == impl_->hits.end() ? 0 : it->second;
}

uint64_t test_server::total_hits() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->total;
}

std::map<std::string, uint64_t> test_server::hits_by_path() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->hits;
}

void test_server::reset_hits() {
  std::lock_guard lock(impl_->mutex);
  impl_->hits.clear();
  impl_->total = 0;
}

http::server_stats test_server::stats() const noexcept { return impl_->server->stats(); }

void test_server::stop() { impl_->server->stop(std::chrono::milliseconds{500}); }

}  // namespace stampede::testing
