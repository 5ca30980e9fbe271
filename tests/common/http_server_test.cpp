// http::server over real sockets: keep-alive, pipelining, limits, deadlines, max_connections, stop.
#include "common/http_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "common/http_client.h"
#include "tests/support/raw_connection.h"

namespace stampede::http {
namespace {

using namespace std::chrono_literals;
using test::raw_connection;
using steady = std::chrono::steady_clock;

// Echoes "METHOD target" as a text body; /boom throws; /204 and /head-check for framing.
response echo_target(request& req) {
  if (req.path() == "/boom") throw std::runtime_error("handler failed");
  if (req.path() == "/204") return response::json(204, "");
  if (req.path() == "/close") {
    response r = response::text(200, "bye");
    r.close = true;
    return r;
  }
  if (req.path() == "/chunks") {
    response r = response::text(200, "");
    r.chunks = {"ab", "", "cde"};
    return r;
  }
  response r = response::text(200, req.method + " " + req.target + (req.body.empty() ? "" : " " + req.body));
  r.headers.emplace_back("X-Remote", req.remote_address);
  return r;
}

server_options small_options() {
  server_options o;
  o.limits = {.max_header_bytes = 1024, .max_body_bytes = 64};
  o.header_timeout = 5s;
  return o;
}

// Waits (bounded) for a condition that another thread makes true.
template <class F>
bool eventually(F&& f, std::chrono::milliseconds limit = 3s) {
  const auto end = steady::now() + limit;
  while (steady::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return f();
}

TEST(http_server, keep_alive_serves_many_requests_on_one_connection) {
  server s(small_options(), echo_target);
  s.start();
  ASSERT_NE(s.port(), 0);
  blocking_client client("127.0.0.1", s.port());
  for (int i = 0; i < 5; ++i) {
    const auto r = client.get("/x?i=" + std::to_string(i));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "GET /x?i=" + std::to_string(i));
    EXPECT_EQ(r.headers.find("x-remote"), "127.0.0.1");
    EXPECT_EQ(r.headers.find("content-type"), "text/plain; charset=utf-8");
    EXPECT_FALSE(r.headers.find("date").empty());
  }
  EXPECT_EQ(s.stats().connections_accepted, 1u);
  EXPECT_EQ(s.stats().requests, 5u);
}

TEST(http_server, pipelined_requests_are_answered_in_order) {
  server s(small_options(), echo_target);
  s.start();
  raw_connection c(s.port());
  std::string wire;
  for (int i = 0; i < 10; ++i) wire += "GET /p" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  wire += "POST /post HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody";
  ASSERT_TRUE(c.send(wire));
  for (int i = 0; i < 10; ++i) {
    const auto r = c.read_response();
    ASSERT_EQ(r.status, 200) << i;
    EXPECT_EQ(r.body, "GET /p" + std::to_string(i));
  }
  EXPECT_EQ(c.read_response().body, "POST /post body");
}

TEST(http_server, pipelining_beyond_max_pipelined_still_answers_everything) {
  server_options o = small_options();
  o.max_pipelined = 3;
  server s(o, echo_target);
  s.start();
  raw_connection c(s.port());
  std::string wire;
  for (int i = 0; i < 20; ++i) wire += "GET /" + std::to_string(i) + " HTTP/1.1\r\n\r\n";
  ASSERT_TRUE(c.send(wire));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(c.read_response().body, "GET /" + std::to_string(i));
}

TEST(http_server, bad_input_gets_400_413_431_json_and_close) {
  server s(small_options(), echo_target);
  s.start();
  struct input {
    std::string wire;
    int status;
    std::string error;
  };
  const std::vector<input> inputs = {
      {"GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n", 431, "header_too_large"},
      {"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", 413, "body_too_large"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n" + std::string(65, 'x') + "\r\n0\r\n\r\n",
       413, "body_too_large"},
      {"NOT HTTP AT ALL\r\n\r\n", 400, "malformed"},
      {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "bad_content_length"},
  };
  for (const auto& in : inputs) {
    raw_connection c(s.port());
    ASSERT_TRUE(c.send(in.wire));
    const auto r = c.read_response();
    EXPECT_EQ(r.status, in.status) << in.wire.substr(0, 40);
    EXPECT_THAT(r.body, ::testing::HasSubstr("\"error\":\"" + in.error + "\""));
    EXPECT_THAT(r.headers, ::testing::HasSubstr("Content-Type: application/json"));
    EXPECT_FALSE(r.keep_alive);
    EXPECT_TRUE(c.closed_by_peer());
  }
  EXPECT_EQ(s.stats().bad_requests, inputs.size());
}

TEST(http_server, head_204_chunked_and_close_are_framed_correctly) {
  server s(small_options(), echo_target);
  s.start();
  raw_connection c(s.port());
  ASSERT_TRUE(
      c.send("HEAD /h HTTP/1.1\r\n\r\nGET /204 HTTP/1.1\r\n\r\nGET /chunks HTTP/1.1\r\n\r\n"
             "GET /close HTTP/1.1\r\n\r\nGET /never HTTP/1.1\r\n\r\n"));
  const auto head = c.read_response(/*head=*/true);
  EXPECT_EQ(head.status, 200);
  EXPECT_THAT(head.headers, ::testing::HasSubstr("Content-Length: 7"));  // "HEAD /h" not sent
  EXPECT_TRUE(head.body.empty());
  const auto no_content = c.read_response();
  EXPECT_EQ(no_content.status, 204);
  EXPECT_THAT(no_content.headers, ::testing::Not(::testing::HasSubstr("Content-Length")));
  const auto chunked = c.read_response();
  EXPECT_THAT(chunked.headers, ::testing::HasSubstr("Transfer-Encoding: chunked"));
  EXPECT_EQ(chunked.body, "abcde");
  const auto closing = c.read_response();
  EXPECT_EQ(closing.body, "bye");
  EXPECT_FALSE(closing.keep_alive);
  EXPECT_TRUE(c.closed_by_peer());  // "/never" is not answered
}

TEST(http_server, http10_clients_get_keep_alive_only_when_asked) {
  server s(small_options(), echo_target);
  s.start();
  raw_connection c(s.port());
  ASSERT_TRUE(c.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  const auto first = c.read_response();
  EXPECT_THAT(first.headers, ::testing::HasSubstr("Connection: keep-alive"));
  ASSERT_TRUE(c.send("GET /b HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(c.read_response().body, "GET /b");
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(http_server, handler_exception_becomes_500) {
  server s(small_options(), echo_target);
  s.start();
  blocking_client client("127.0.0.1", s.port());
  const auto r = client.get("/boom");
  EXPECT_EQ(r.status, 500);
  EXPECT_THAT(r.body, ::testing::HasSubstr("handler failed"));
  EXPECT_EQ(client.get("/after").status, 200);  // the connection survives
}

// Reason phrases are Beast's (obsolete_reason), not a table of our own: the status line of each code.
TEST(http_server, status_lines_carry_beasts_reason_phrases) {
  server s(small_options(),
           [](request& req) { return response::text(std::stoi(std::string(req.path().substr(1))), ""); });
  s.start();
  const std::vector<std::pair<int, std::string>> expected = {
      {200, "OK"},
      {207, "Multi-Status"},
      {404, "Not Found"},
      {413, "Payload Too Large"},
      {422, "Unprocessable Entity"},
      {451, "Unavailable For Legal Reasons"},
      {503, "Service Unavailable"},
      {420, "<unknown-status>"},
  };
  for (const auto& [status, reason] : expected) {
    EXPECT_EQ(reason_phrase(status), reason);
    raw_connection c(s.port());
    ASSERT_TRUE(c.send("GET /" + std::to_string(status) + " HTTP/1.1\r\nConnection: close\r\n\r\n"));
    std::string wire;
    char buf[4096];
    for (;;) {
      boost::system::error_code ec;
      const size_t n = c.socket().read_some(boost::asio::buffer(buf), ec);
      if (ec) break;
      wire.append(buf, n);
    }
    const std::string line = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
    EXPECT_EQ(wire.substr(0, line.size()), line) << wire.substr(0, wire.find('\r'));
  }
}

TEST(http_server, slowloris_is_cut_at_header_timeout_however_slowly_bytes_trickle) {
  server_options o = small_options();
  o.header_timeout = 300ms;
  server s(o, echo_target);
  s.start();
  raw_connection c(s.port());
  const std::string wire = "GET / HTTP/1.1\r\nX-Slow: " + std::string(200, 'a');
  const auto start = steady::now();
  size_t sent = 0;
  // Stimulus, not synchronisation: one byte every 20 ms, each of which would reset a naive per-read timer.
  while (sent < wire.size() && c.send(wire.substr(sent, 1)) && steady::now() - start < 3s) {
    ++sent;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(c.closed_by_peer());
  const auto elapsed = steady::now() - start;
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 2s);
  EXPECT_TRUE(eventually([&] { return s.stats().timeouts >= 1; }));
}

TEST(http_server, silent_connection_and_idle_keep_alive_are_closed) {
  server_options o = small_options();
  o.header_timeout = 200ms;
  o.idle_timeout = 200ms;
  server s(o, echo_target);
  s.start();
  raw_connection silent(s.port());
  raw_connection idle(s.port());
  ASSERT_TRUE(idle.send("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(idle.read_response().status, 200);
  const auto start = steady::now();
  EXPECT_TRUE(silent.closed_by_peer());
  EXPECT_TRUE(idle.closed_by_peer());
  EXPECT_LT(steady::now() - start, 2s);
  EXPECT_TRUE(eventually([&] { return s.stats().timeouts >= 2; }));
}

TEST(http_server, body_timeout_cuts_a_body_that_never_arrives) {
  server_options o = small_options();
  o.body_timeout = 200ms;
  server s(o, echo_target);
  s.start();
  raw_connection c(s.port());
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(http_server, connections_over_max_connections_are_closed_at_once) {
  server_options o = small_options();
  o.max_connections = 2;
  server s(o, echo_target);
  s.start();
  raw_connection a(s.port()), b(s.port());
  ASSERT_TRUE(a.send("GET /a HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(b.send("GET /b HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(a.read_response().status, 200);
  ASSERT_EQ(b.read_response().status, 200);
  raw_connection c(s.port());
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_TRUE(eventually([&] { return s.stats().connections_rejected == 1; }));
  EXPECT_EQ(s.stats().connections_active, 2u);
  ASSERT_TRUE(a.send("GET /still HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(a.read_response().body, "GET /still");
}

TEST(http_server, graceful_stop_finishes_in_flight_requests_and_closes_idle_ones) {
  std::promise<void> in_handler;
  async_handler slow = [&](request& req, responder reply) {
    if (req.path() == "/slow") {
      in_handler.set_value();
      reply.after(300ms, response::text(200, "finished"));
    } else {
      reply(response::text(200, "quick"));
    }
  };
  server s(small_options(), slow);
  s.start();
  raw_connection idle(s.port());
  ASSERT_TRUE(idle.send("GET /q HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(idle.read_response().body, "quick");
  raw_connection busy(s.port());
  ASSERT_TRUE(busy.send("GET /slow HTTP/1.1\r\n\r\n"));
  in_handler.get_future().wait();
  std::thread stopper([&] { s.stop(5s); });
  const auto r = busy.read_response();
  EXPECT_EQ(r.body, "finished");
  EXPECT_FALSE(r.keep_alive);  // stopping: "Connection: close"
  EXPECT_TRUE(idle.closed_by_peer());
  stopper.join();
  EXPECT_EQ(s.stats().connections_active, 0u);
  EXPECT_THROW(raw_connection late(s.port()), boost::system::system_error);
  s.wait();  // returns at once: stopped
}

TEST(http_server, stop_after_grace_cuts_requests_that_never_finish) {
  async_handler never = [](request&, responder) {};  // drops the responder
  server s(small_options(), never);
  s.start();
  raw_connection c(s.port());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(eventually([&] { return s.stats().requests == 1; }));
  const auto start = steady::now();
  s.stop(100ms);
  EXPECT_LT(steady::now() - start, 2s);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(http_server, async_reply_that_never_comes_is_bounded_by_handler_timeout) {
  server_options o = small_options();
  o.handler_timeout = 200ms;
  server s(o, async_handler([](request&, responder) {}));
  s.start();
  raw_connection c(s.port());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_TRUE(eventually([&] { return s.stats().timeouts == 1; }));
}

// Both handlers: the choice sends slow work to the asynchronous handler, which answers from a thread of its
// own, while the one server thread keeps answering synchronous requests meanwhile.
TEST(http_server, a_choice_per_request_between_sync_and_async_handlers) {
  server_options o = small_options();
  o.threads = 1;
  std::promise<responder> parked;
  server s(
      o, echo_target, [&](request&, responder reply) { parked.set_value(std::move(reply)); },
      [](const request& r) { return r.path() == "/slow"; });
  s.start();
  blocking_client slow_client("127.0.0.1", s.port(), 5s);
  auto slow = std::async(std::launch::async, [&] { return slow_client.get("/slow"); });
  auto reply = parked.get_future().get();  // the slow request is parked, not holding the server thread
  blocking_client fast("127.0.0.1", s.port(), 5s);
  auto r = fast.get("/fast");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "GET /fast");
  std::thread([reply] { reply(response::text(200, "slow done")); }).join();
  auto sr = slow.get();
  EXPECT_EQ(sr.status, 200);
  EXPECT_EQ(sr.body, "slow done");
  EXPECT_THROW(server(o, echo_target, async_handler{}, [](const request&) { return true; }), std::invalid_argument);
}

TEST(http_server, many_concurrent_clients_on_several_threads) {
  server_options o = small_options();
  o.threads = 4;
  std::atomic<int> in_flight{0}, max_in_flight{0};
  server s(o, [&](request& req) {
    const int now = ++in_flight;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    --in_flight;
    return response::text(200, req.target);
  });
  s.start();
  constexpr int clients = 16, requests = 50;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      blocking_client client("127.0.0.1", s.port());
      for (int i = 0; i < requests; ++i) {
        const std::string target = "/c" + std::to_string(t) + "/" + std::to_string(i);
        const auto r = client.get(target);
        if (r.status == 200 && r.body == target) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), clients * requests);
  EXPECT_EQ(s.stats().requests, static_cast<uint64_t>(clients * requests));
  EXPECT_EQ(s.stats().connections_accepted, static_cast<uint64_t>(clients));
  EXPECT_LE(max_in_flight.load(), 4);
}

TEST(http_server, pause_stops_serving_for_the_duration_then_answers_queued_requests) {
  server_options o = small_options();
  o.threads = 2;
  server s(o, echo_target);
  s.start();
  blocking_client client("127.0.0.1", s.port());
  ASSERT_EQ(client.get("/before").status, 200);
  const auto start = steady::now();
  s.pause(300ms);
  const auto r = client.get("/during");
  const auto elapsed = steady::now() - start;
  EXPECT_EQ(r.body, "GET /during");
  EXPECT_GE(elapsed, 290ms);
  EXPECT_LT(elapsed, 2s);
}

TEST(http_server, start_fails_clearly_when_the_port_is_taken) {
  server a(small_options(), echo_target);
  a.start();
  server_options o = small_options();
  o.port = a.port();
  server b(o, echo_target);
  try {
    b.start();
    FAIL() << "expected system_error";
  } catch (const std::system_error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("cannot bind 127.0.0.1:" + std::to_string(a.port())));
  }
}

TEST(http_request, query_params_path_and_cookies) {
  request r;
  r.target = "/search/items?q=red%20shoes&page=2&flag&plus=a+b";
  r.headers.raw = "Cookie: sid=abc; theme=dark\r\n";
  EXPECT_EQ(r.path(), "/search/items");
  EXPECT_EQ(r.query(), "q=red%20shoes&page=2&flag&plus=a+b");
  EXPECT_EQ(r.query_param("q"), "red shoes");
  EXPECT_EQ(r.query_param("page"), "2");
  EXPECT_EQ(r.query_param("plus"), "a b");
  EXPECT_TRUE(r.has_query_param("flag"));
  EXPECT_FALSE(r.has_query_param("missing"));
  EXPECT_EQ(r.query_param("missing"), "");
  EXPECT_EQ(r.cookie("theme"), "dark");
  EXPECT_EQ(r.cookie("sid"), "abc");
  EXPECT_EQ(r.cookie("nope"), "");
  EXPECT_EQ(response::error(404, "not_found", "a \"quoted\" thing").body,
            R"({"error":"not_found","detail":"a \"quoted\" thing"})");
}

}  // namespace
}  // namespace stampede::http
