// blocking_client against the real server, a silent acceptor and a server that sends garbage.
#include "common/http_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <thread>

#include "common/http_server.h"
#include "tests/support/raw_connection.h"

namespace stampede::http {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A raw listener on 127.0.0.1:0 whose behaviour per accepted connection is a function (runs in a thread).
class raw_server {
 public:
  template <class F>
  explicit raw_server(F on_connection)
      : acceptor_(ctx_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        thread_([this, on_connection] {
          for (;;) {
            boost::system::error_code ec;
            tcp::socket s(ctx_);
            acceptor_.accept(s, ec);
            if (ec || stopping_) return;
            on_connection(s);
            sockets_.push_back(std::move(s));  // keep open until the end of the test
          }
        }) {}
  ~raw_server() {
    stopping_ = true;
    // Wake the blocking accept with one last connection.
    boost::system::error_code ec;
    asio::io_context ctx;
    tcp::socket wake(ctx);
    wake.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  asio::io_context ctx_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::vector<tcp::socket> sockets_;
  std::thread thread_;
};

// Reads the request head so the client's write completes, then does nothing else.
void read_head(tcp::socket& s) {
  asio::streambuf buf;
  boost::system::error_code ec;
  asio::read_until(s, buf, "\r\n\r\n", ec);
}

response echo(request& req) {
  return response::text(
      200, req.method + " " + req.target + " " + req.body + " " + std::string(req.header("content-type")));
}

TEST(blocking_client, times_out_against_a_server_that_never_answers) {
  raw_server silent([](tcp::socket& s) { read_head(s); });
  blocking_client client("127.0.0.1", silent.port(), 200ms);
  const auto start = steady::now();
  try {
    client.get("/");
    FAIL() << "expected timeout";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("GET /"));
  }
  const auto elapsed = steady::now() - start;
  EXPECT_GE(elapsed, 190ms);
  EXPECT_LT(elapsed, 2s);
}

TEST(blocking_client, malformed_response_is_bad_message) {
  raw_server liar([](tcp::socket& s) {
    read_head(s);
    asio::write(s, asio::buffer(std::string_view("HTTP/1.1 abc Nope\r\n\r\n")));
  });
  blocking_client client("127.0.0.1", liar.port(), 2s);
  try {
    client.get("/");
    FAIL() << "expected bad_message";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::bad_message);
  }
}

TEST(blocking_client, response_cut_short_is_connection_reset) {
  raw_server cutter([](tcp::socket& s) {
    read_head(s);
    asio::write(s, asio::buffer(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")));
    s.close();
  });
  blocking_client client("127.0.0.1", cutter.port(), 2s);
  try {
    client.get("/");
    FAIL() << "expected connection_reset";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::connection_reset);
  }
}

TEST(blocking_client, connection_refused_throws) {
  uint16_t port;
  {
    asio::io_context ctx;
    tcp::acceptor a(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  blocking_client client("127.0.0.1", port, 1s);
  EXPECT_THROW(client.get("/"), std::system_error);
}

TEST(blocking_client, keeps_the_connection_and_sends_body_headers_and_host) {
  server s(server_options{}, echo);
  s.start();
  blocking_client client("127.0.0.1", s.port());
  EXPECT_EQ(client.post_json("/orders", R"({"sku":1})").body, R"(POST /orders {"sku":1} application/json)");
  const auto r = client.request("PUT", "/x", "data", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(r.body, "PUT /x data text/plain");
  EXPECT_EQ(client.request("HEAD", "/h").body, "");  // no body read for HEAD
  EXPECT_EQ(client.get("/after-head").status, 200);
  EXPECT_EQ(s.stats().connections_accepted, 1u);
}

TEST(blocking_client, reconnects_after_the_server_closed_the_kept_connection) {
  server_options o;
  o.idle_timeout = 100ms;
  server s(o, [](request& req) {
    response r = response::text(200, req.target);
    r.close = req.path() == "/close";
    return r;
  });
  s.start();
  blocking_client client("127.0.0.1", s.port());
  EXPECT_EQ(client.get("/close").body, "/close");  // server says Connection: close
  EXPECT_EQ(client.get("/a").body, "/a");
  EXPECT_EQ(s.stats().connections_accepted, 2u);
  // Now the server closes the idle keep-alive connection on its own.
  const auto end = steady::now() + 3s;
  while (s.stats().connections_active != 0 && steady::now() < end) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(s.stats().connections_active, 0u);
  EXPECT_EQ(client.post_json("/b", "{}").body, "/b");  // even a POST: the close was seen before writing
  EXPECT_EQ(s.stats().connections_accepted, 3u);
}

TEST(blocking_client, chunked_response_and_set_timeout) {
  server s(server_options{}, [](request&) {
    response r = response::text(200, "");
    r.chunks = {"one ", "two"};
    return r;
  });
  s.start();
  blocking_client client("localhost", s.port());  // through the resolver
  client.set_timeout(1s);
  const auto r = client.get("/");
  EXPECT_EQ(r.body, "one two");
  EXPECT_EQ(r.headers.find("transfer-encoding"), "chunked");
  client.close();
  EXPECT_EQ(client.get("/").status, 200);
}

}  // namespace
}  // namespace stampede::http
