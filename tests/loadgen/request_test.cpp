// The typed request without a whole run: URLs parsed by Boost.URL, the bytes a request puts on the wire,
// the cookie jar, expectedStatuses, and the engine executing requests against the test server (127.0.0.1).
#include "loadgen/request.h"

#include <gtest/gtest.h>

#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>

#include "loadgen/target_cache.h"
#include "tests/support/test_server.h"

namespace stampede::loadgen {
namespace {

parsed_url must_parse(std::string_view text, const parsed_url* base = nullptr) {
  std::string error;
  auto url = parse_url(text, base, error);
  EXPECT_TRUE(url.has_value()) << text << ": " << error;
  return url.value_or(parsed_url{});
}

std::string parse_error(std::string_view text, const parsed_url* base = nullptr) {
  std::string error;
  EXPECT_FALSE(parse_url(text, base, error).has_value()) << text;
  return error;
}

std::string host_header(const parsed_url& url) {
  std::string out;
  url.append_host_header(out);
  return out;
}

TEST(request_url, the_query_is_kept_also_without_a_path) {
  EXPECT_EQ(must_parse("http://127.0.0.1?x=1").path, "/?x=1");
  EXPECT_EQ(must_parse("http://127.0.0.1/items?page=2&sort=price").path, "/items?page=2&sort=price");
  EXPECT_EQ(must_parse("http://127.0.0.1").path, "/");
  EXPECT_EQ(must_parse("http://127.0.0.1/a#fragment").path, "/a");  // a fragment is never sent
  const parsed_url base = must_parse("http://127.0.0.1:8080");
  const parsed_url relative = must_parse("/cart?id=7", &base);
  EXPECT_EQ(relative.path, "/cart?id=7");
  EXPECT_EQ(relative.host, "127.0.0.1");
  EXPECT_EQ(relative.port, 8080);
}

TEST(request_url, scheme_port_and_ip_literals) {
  const parsed_url plain = must_parse("HTTP://127.0.0.1:8080/x");
  EXPECT_FALSE(plain.tls);
  EXPECT_EQ(plain.port, 8080);
  EXPECT_EQ(host_header(plain), "127.0.0.1:8080");
  const parsed_url tls = must_parse("https://shop.test/");
  EXPECT_TRUE(tls.tls);
  EXPECT_EQ(tls.port, 443);
  EXPECT_EQ(tls.host, "shop.test");  // parsed, never resolved
  EXPECT_EQ(host_header(tls), "shop.test");
  const parsed_url v6 = must_parse("http://[::1]:9000/p?q=1");
  EXPECT_EQ(v6.host, "::1");  // without brackets: the engine resolves (numerically) and keys pools by it
  EXPECT_EQ(v6.port, 9000);
  EXPECT_EQ(v6.path, "/p?q=1");
  EXPECT_EQ(host_header(v6), "[::1]:9000");
  EXPECT_EQ(host_header(must_parse("http://[::1]/")), "[::1]");
  EXPECT_EQ(v6.origin_key(), "http://::1:9000");
}

TEST(request_url, characters_a_url_may_not_hold_are_percent_encoded) {
  EXPECT_EQ(must_parse("http://127.0.0.1/a b?ids[]=1|2&q={x}").path, "/a%20b?ids%5B%5D=1%7C2&q=%7Bx%7D");
  EXPECT_EQ(must_parse("http://127.0.0.1/caf\xc3\xa9").path, "/caf%C3%A9");
  EXPECT_EQ(must_parse("http://127.0.0.1/already%20encoded").path, "/already%20encoded");
  EXPECT_EQ(must_parse("http://127.0.0.1/?off=10%&x=%zz").path, "/?off=10%25&x=%25zz");
}

TEST(request_url, bad_urls_are_refused_naming_them) {
  EXPECT_NE(parse_error("http://user:secret@127.0.0.1/")
                .find("credentials in URLs are not supported: "
                      "'http://user:secret@127.0.0.1/'"),
            std::string::npos);
  EXPECT_NE(parse_error("ftp://127.0.0.1/file").find("unsupported URL 'ftp://127.0.0.1/file'"),
            std::string::npos);
  EXPECT_NE(parse_error("127.0.0.1/x").find("unsupported URL '127.0.0.1/x'"), std::string::npos);
  EXPECT_NE(parse_error("http://127.0.0.1:99999/").find("bad port in 'http://127.0.0.1:99999/'"),
            std::string::npos);
  EXPECT_NE(parse_error("http://127.0.0.1:0/").find("bad port"), std::string::npos);
  EXPECT_NE(parse_error("http://:8080/").find("missing host in 'http://:8080/'"), std::string::npos);
  EXPECT_NE(parse_error("http://[::1/").find("'http://[::1/'"), std::string::npos);
  EXPECT_NE(parse_error("/cart").find("relative URL '/cart' but no target is set"), std::string::npos);
  const parsed_url base = must_parse("http://127.0.0.1");
  EXPECT_NE(parse_error("//127.0.0.2/x", &base).find("'//127.0.0.2/x'"), std::string::npos);
}

struct recording_job final : http_job {
  void on_complete() override { done = true; }
  bool done = false;
};

http_request get(const parsed_url& url, std::string method = "GET") {
  http_request r;
  r.method = std::move(method);
  r.url = &url;
  return r;
}

std::string wire_of(const http_request& r, const cookie_jar& jar = {}, std::string_view user_agent = "") {
  recording_job job;
  r.write_to(job, user_agent, jar);
  return job.wire;
}

TEST(request_wire, request_line_host_headers_and_body) {
  const parsed_url url = must_parse("http://127.0.0.1:8080/echo?x=1");
  http_request r = get(url, "POST");
  r.headers = {{"X-Trace", "abc"}, {"host", "elsewhere"}, {"Content-Length", "99"}};  // computed, never taken
  r.body = R"({"a":1})";
  r.content_type = "application/json";
  EXPECT_EQ(wire_of(r, {}, "stampede/test"),
            "POST /echo?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-Trace: abc\r\nUser-Agent: stampede/test\r\n"
            "Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
  r.headers = {{"user-agent", "mine"}, {"Content-Type", "text/plain"}};
  const std::string own = wire_of(r, {}, "stampede/test");
  EXPECT_EQ(own.find("stampede/test"), std::string::npos);
  EXPECT_EQ(own.find("application/json"), std::string::npos);
  EXPECT_EQ(wire_of(get(url)), "GET /echo?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
  recording_job head;
  http_request h = get(url, "HEAD");
  h.timeout = std::chrono::milliseconds(250);
  h.write_to(head, "", {});
  EXPECT_TRUE(head.head);
  EXPECT_TRUE(head.idempotent);
  EXPECT_EQ(head.timeout, std::chrono::milliseconds(250));
  recording_job post;
  r.write_to(post, "", {});
  EXPECT_FALSE(post.idempotent);  // never retried on a stale connection
}

TEST(cookie_jar_test, a_cookie_set_is_sent_back_to_its_host_only) {
  const parsed_url url = must_parse("http://127.0.0.1:8080/login");
  const parsed_url other = must_parse("http://127.0.0.2:8080/login");
  cookie_jar jar;
  jar.store(url, "sid=abc; Path=/; HttpOnly");
  jar.store(url, " theme = dark ");
  EXPECT_EQ(wire_of(get(url), jar),
            "GET /login HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nCookie: sid=abc; theme=dark\r\n\r\n");
  EXPECT_EQ(wire_of(get(other), jar).find("Cookie"), std::string::npos);
  jar.store(url, "sid=def");
  ASSERT_EQ(jar.cookies().size(), 2u);
  EXPECT_EQ(jar.cookies()[0].value, "def");
  http_request own = get(url);
  own.headers = {{"Cookie", "mine=1"}};  // the script's Cookie header replaces the jar's
  EXPECT_EQ(wire_of(own, jar), "GET /login HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nCookie: mine=1\r\n\r\n");
  jar.store(url, "=nameless");
  jar.store(url, "novalue");
  EXPECT_EQ(jar.cookies().size(), 2u);
}

TEST(cookie_jar_test, max_age_zero_or_negative_deletes_and_path_limits_where_it_goes) {
  const parsed_url root = must_parse("http://127.0.0.1/");
  cookie_jar jar;
  jar.store(root, "sid=abc; Path=/; Max-Age=3600");
  jar.store(root, "cart=1; Path=/api");
  EXPECT_EQ(jar.cookies().size(), 2u);
  const auto header_for = [&](std::string_view target) {
    std::string wire;
    jar.append_header(wire, must_parse(std::string("http://127.0.0.1") + std::string(target)));
    return wire;
  };
  EXPECT_EQ(header_for("/"), "Cookie: sid=abc\r\n");
  EXPECT_EQ(header_for("/api"), "Cookie: sid=abc; cart=1\r\n");
  EXPECT_EQ(header_for("/api/items?x=/api"), "Cookie: sid=abc; cart=1\r\n");
  EXPECT_EQ(header_for("/apix"), "Cookie: sid=abc\r\n");
  EXPECT_EQ(header_for("/?q=/api"), "Cookie: sid=abc\r\n");
  jar.store(root, "sid=; Path=/; HttpOnly; max-age=0");
  EXPECT_EQ(header_for("/"), "");
  jar.store(root, "cart=; Path=/api; Max-Age=-1");
  EXPECT_TRUE(jar.cookies().empty());
  jar.store(root, "gone=1; Max-Age=0");  // deleting one never stored stores nothing
  EXPECT_TRUE(jar.cookies().empty());
}

http_outcome answered(int status, error_kind engine_error) {
  http_outcome out;
  out.status = status;
  out.error = engine_error;
  return out;
}

TEST(expected_statuses, decide_which_answers_fail) {
  const parsed_url url = must_parse("http://127.0.0.1/");
  cookie_jar jar;
  http_request r = get(url);
  auto settled = [&](http_outcome out) {
    r.settle(out, jar);
    return out.error;
  };
  EXPECT_EQ(settled(answered(404, error_kind::status_4xx)),
            error_kind::status_4xx);  // none declared: >= 400 fails
  EXPECT_EQ(settled(answered(200, error_kind::none)), error_kind::none);
  r.expected_statuses = {201, 409};
  EXPECT_EQ(settled(answered(409, error_kind::status_4xx)), error_kind::none);
  EXPECT_EQ(settled(answered(201, error_kind::none)), error_kind::none);
  EXPECT_EQ(settled(answered(200, error_kind::none)), error_kind::other);
  EXPECT_EQ(settled(answered(404, error_kind::status_4xx)), error_kind::status_4xx);
  EXPECT_EQ(settled(answered(503, error_kind::status_5xx)), error_kind::status_5xx);
  EXPECT_EQ(settled(answered(0, error_kind::read_timeout)),
            error_kind::read_timeout);  // no answer stays as it is
}

// The engine executes typed requests: cookies set by one response go with the next request, and
// expectedStatuses turn a 409 into an outcome.
class request_engine : public ::testing::Test {
 protected:
  http_outcome execute(http_request& r) {
    recording_job job;
    r.write_to(job, "", jar_);
    engine_.submit(*r.url, job);
    io_.restart();  // run_for() stopped the context when the previous request left it without work
    const auto deadline = steady::now() + std::chrono::seconds(10);
    while (!job.done && steady::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(10));
      engine_.sweep(steady::now());
    }
    EXPECT_TRUE(job.done) << "no answer in 10 s";
    r.settle(job.outcome, jar_);
    return job.outcome;
  }

  testing::test_server server_;
  boost::asio::io_context io_;
  http_engine engine_{io_, http_engine_options{}};
  cookie_jar jar_;
};

TEST_F(request_engine, cookies_set_by_a_response_are_sent_with_the_next_request) {
  const parsed_url set = must_parse(server_.base_url() + "/set-cookie?sid=one&theme=dark");
  http_request r = get(set);
  EXPECT_EQ(execute(r).status, 200);
  ASSERT_EQ(jar_.cookies().size(), 2u);
  const parsed_url echo = must_parse(server_.base_url() + "/cookies");
  http_request next = get(echo);
  const http_outcome out = execute(next);
  ASSERT_EQ(out.status, 200);
  const auto body = boost::json::parse(out.body);
  EXPECT_EQ(body.at("cookie").as_string(), "sid=one; theme=dark");
}

TEST_F(request_engine, expected_statuses_apply_to_real_answers) {
  const parsed_url conflict = must_parse(server_.base_url() + "/status/409");
  http_request plain = get(conflict);
  EXPECT_EQ(execute(plain).error, error_kind::status_4xx);
  http_request expected = get(conflict);
  expected.expected_statuses = {409};
  const http_outcome out = execute(expected);
  EXPECT_EQ(out.status, 409);
  EXPECT_EQ(out.error, error_kind::none);
}

TEST_F(request_engine, the_query_reaches_the_server) {
  const parsed_url echo = must_parse(server_.base_url() + "/echo?x=1&y=two");
  http_request r = get(echo);
  const http_outcome out = execute(r);
  ASSERT_EQ(out.status, 200);
  EXPECT_EQ(boost::json::parse(out.body).at("query").as_string(), "x=1&y=two");
}

// A request larger than the socket's send buffer is sent in parts, and a response larger than the read
// buffer is read in parts (the engine's own epoll set waits for output, then for input, #17); the
// connection is then reused for the next request.
TEST_F(request_engine, a_request_and_a_response_larger_than_the_socket_buffers_arrive_whole) {
  const parsed_url echo = must_parse(server_.base_url() + "/echo");
  http_request big = get(echo, "POST");
  big.body.assign(1000 * 1024, 'p');
  const http_outcome out = execute(big);
  ASSERT_EQ(out.status, 200);
  EXPECT_EQ(boost::json::parse(out.body).at("body").as_string(), big.body);
  const parsed_url after = must_parse(server_.base_url() + "/echo?after=big");  // the request points to it
  http_request next = get(after);
  const http_outcome second = execute(next);
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(boost::json::parse(second.body).at("query").as_string(), "after=big");
  EXPECT_EQ(engine_.open_connections(), 1u);
}

// A server that reads slowly through a small receive buffer: the engine's first send takes part of an
// 8 MB request, and the rest goes out as the socket drains (EPOLLOUT in the engine's own epoll set).
// The server answers with the number of body bytes it received.
TEST(request_engine_slow_reader, a_request_larger_than_the_send_buffer_is_sent_whole) {
  namespace asio = boost::asio;
  using tcp = asio::ip::tcp;
  asio::io_context server_io;
  tcp::acceptor acceptor(server_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  acceptor.set_option(asio::socket_base::receive_buffer_size(4096));
  const size_t body_size = 8 * 1024 * 1024;
  std::thread server([&] {
    tcp::socket peer = acceptor.accept();
    std::string head;
    const size_t head_end = asio::read_until(peer, asio::dynamic_buffer(head), "\r\n\r\n");
    size_t received = head.size() - head_end;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the client's send buffer fills
    std::vector<char> chunk(64 * 1024);
    boost::system::error_code ec;
    while (received < body_size && !ec) received += peer.read_some(asio::buffer(chunk), ec);
    const std::string answer = std::to_string(received);
    const std::string response =
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(answer.size()) + "\r\n\r\n" + answer;
    asio::write(peer, asio::buffer(response), ec);
  });
  const parsed_url url =
      must_parse("http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/up");
  asio::io_context io;
  http_engine engine(io, http_engine_options{});
  http_request r = get(url, "POST");
  r.body.assign(body_size, 'u');
  recording_job job;
  r.write_to(job, "", cookie_jar{});
  engine.submit(*r.url, job);
  const auto deadline = steady::now() + std::chrono::seconds(20);
  while (!job.done && steady::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
    engine.sweep(steady::now());
  }
  server.join();
  ASSERT_TRUE(job.done) << "no answer in 20 s";
  EXPECT_EQ(job.outcome.error, error_kind::none) << job.outcome.error_message;
  EXPECT_EQ(job.outcome.status, 200);
  EXPECT_EQ(job.outcome.body, std::to_string(body_size));
  EXPECT_EQ(job.outcome.bytes_sent, static_cast<int64_t>(job.wire.size()));
}

// A VU gives its response's buffers back once the script has its copy (#17: 100,000 sleeping VUs held
// ~1 KB each); the parser takes them for the next response, which still arrives whole. A buffer beyond
// max_spare_capacity is freed, not kept.
TEST_F(request_engine, recycled_response_buffers_serve_the_next_responses) {
  const size_t inline_capacity = std::string().capacity();
  recording_job job;
  const auto run = [&](http_request& r) {
    job.done = false;
    r.write_to(job, "", jar_);
    engine_.submit(*r.url, job);
    io_.restart();
    const auto deadline = steady::now() + std::chrono::seconds(10);
    while (!job.done && steady::now() < deadline) io_.run_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(job.done) << "no answer in 10 s";
    ASSERT_EQ(job.outcome.status, 200);
  };
  const parsed_url first = must_parse(server_.base_url() + "/echo?n=1");
  http_request r1 = get(first);
  run(r1);
  EXPECT_EQ(engine_.spare_buffers(), 0u);
  engine_.recycle(job.outcome);
  EXPECT_EQ(engine_.spare_buffers(), 2u);  // headers and body
  EXPECT_EQ(job.outcome.body.capacity(), inline_capacity);
  EXPECT_EQ(job.outcome.headers.raw.capacity(), inline_capacity);

  const parsed_url second = must_parse(server_.base_url() + "/echo?n=2");
  http_request r2 = get(second);
  run(r2);
  EXPECT_EQ(engine_.spare_buffers(), 0u);  // the parser took both back
  EXPECT_EQ(boost::json::parse(job.outcome.body).at("query").as_string(), "n=2");
  EXPECT_NE(job.outcome.headers.find("Content-Type"), "");
  engine_.recycle(job.outcome);
  EXPECT_EQ(engine_.spare_buffers(), 2u);

  const parsed_url echo = must_parse(server_.base_url() + "/echo");
  http_request big = get(echo, "POST");
  big.body.assign(100 * 1024, 'b');
  run(big);
  EXPECT_EQ(boost::json::parse(job.outcome.body).at("body").as_string().size(), 100u * 1024);
  EXPECT_GT(job.outcome.body.capacity(), http_engine::max_spare_capacity);
  engine_.recycle(job.outcome);
  EXPECT_EQ(engine_.spare_buffers(), 1u);  // the headers' buffer; the body's was freed
  EXPECT_EQ(job.outcome.body.capacity(), inline_capacity);
}

// The worker's cache of parsed targets: one entry per (method, URL, name), stable addresses, bounded.
TEST(target_cache, keeps_one_entry_per_method_url_and_name_at_a_stable_address) {
  target_cache cache;
  EXPECT_EQ(cache.find("GET", "/a", ""), nullptr);
  parsed_url a = must_parse("http://127.0.0.1:8080/a");
  const target_cache::entry* kept = cache.insert("GET", "/a", "", a, 3);
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->url.path, "/a");
  EXPECT_EQ(kept->step, 3u);
  for (int i = 0; i < 100; ++i) {  // other entries (rehashing) do not move it
    parsed_url other = must_parse("http://127.0.0.1:8080/x" + std::to_string(i));
    ASSERT_NE(cache.insert("GET", "/x" + std::to_string(i), "", other, 4), nullptr);
  }
  EXPECT_EQ(cache.find("GET", "/a", ""), kept);
  EXPECT_EQ(cache.find("POST", "/a", ""), nullptr);  // the method, the name and the URL all count
  EXPECT_EQ(cache.find("GET", "/a", "named"), nullptr);
  EXPECT_EQ(cache.find("GET", "/a?q", ""), nullptr);
  // A name and a URL that would read the same run together stay apart.
  parsed_url b = must_parse("http://127.0.0.1:8080/b");
  const target_cache::entry* split = cache.insert("GET", "b/c", "a/", b, 5);
  ASSERT_NE(split, nullptr);
  EXPECT_EQ(cache.find("GET", "/c", "a/b"), nullptr);
  EXPECT_EQ(cache.find("GET", "b/c", "a/"), split);
  EXPECT_EQ(cache.size(), 102u);
}

TEST(target_cache, keeps_nothing_past_its_bound) {
  target_cache cache;
  for (size_t i = 0; i < target_cache::max_entries; ++i) {
    parsed_url url = must_parse("http://127.0.0.1:8080/");
    ASSERT_NE(cache.insert("GET", "/" + std::to_string(i), "", url, i), nullptr);
  }
  parsed_url url = must_parse("http://127.0.0.1:8080/late");
  EXPECT_EQ(cache.insert("GET", "/late", "", url, 1), nullptr);
  EXPECT_EQ(url.path, "/late");  // left to the caller
  EXPECT_EQ(cache.find("GET", "/late", ""), nullptr);
  EXPECT_EQ(cache.size(), target_cache::max_entries);
}

}  // namespace
}  // namespace stampede::loadgen
