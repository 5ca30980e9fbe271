// Parsers against hand-written wire bytes: framing, limits, errors, and every possible split of the input.
#include "common/http_parse.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace stampede::http {
namespace {

// Feeds `wire` in pieces of at most `step` bytes, the way a socket might deliver it. Returns bytes consumed.
template <class Parser>
size_t feed_in_steps(Parser& p, std::string_view wire, size_t step) {
  size_t consumed = 0;
  while (consumed < wire.size() && !p.complete() && p.error() == parse_error::none) {
    const size_t n = std::min(step, wire.size() - consumed);
    const size_t used = p.feed(std::span<const char>(wire.data() + consumed, n));
    EXPECT_LE(used, n);
    consumed += used;
    if (used < n) break;  // message complete: the rest belongs to the next one
  }
  return consumed;
}

// Feeds `first` then `second` (one split point).
template <class Parser>
size_t feed_split(Parser& p, std::string_view wire, size_t split) {
  size_t used = p.feed(std::span<const char>(wire.data(), split));
  if (used < split || p.complete() || p.error() != parse_error::none) return used;
  return used + p.feed(std::span<const char>(wire.data() + split, wire.size() - split));
}

const std::string k_nginx_like =
    "HTTP/1.1 200 OK\r\n"
    "Server: nginx/1.22.1\r\n"
    "Date: Sat, 22 Nov 2025 06:31:00 GMT\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 13\r\n"
    "Connection: keep-alive\r\n"
    "\r\n"
    "{\"ok\": true}\n";

TEST(response_parser, parses_content_length_response_in_one_piece) {
  response_parser p;
  EXPECT_EQ(p.feed(k_nginx_like), k_nginx_like.size());
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(p.status(), 200);
  EXPECT_TRUE(p.keep_alive());
  EXPECT_FALSE(p.chunked());
  EXPECT_EQ(p.body(), "{\"ok\": true}\n");
  EXPECT_EQ(p.headers().find("content-type"), "application/json");
  EXPECT_EQ(p.headers().find("SERVER"), "nginx/1.22.1");
  EXPECT_EQ(p.headers().find("x-missing"), "");
  EXPECT_EQ(p.wire_bytes(), k_nginx_like.size());
  EXPECT_NE(p.headers().raw.find("Content-Length: 13\r\n"), std::string::npos);
  EXPECT_EQ(p.headers().raw.find("HTTP/1.1"), std::string::npos);  // no start line in the block
}

TEST(response_parser, header_block_for_each_visits_fields_in_order) {
  response_parser p;
  p.feed(k_nginx_like);
  std::vector<std::string> names;
  p.headers().for_each([&](std::string_view n, std::string_view) { names.emplace_back(n); });
  EXPECT_EQ(names,
            (std::vector<std::string>{"Server", "Date", "Content-Type", "Content-Length", "Connection"}));
}

const std::string k_chunked =
    "HTTP/1.1 200 OK\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "5;name=value\r\nhello\r\n"
    "1\r\n \r\n"
    "5;a;b=\"q\"\r\nworld\r\n"
    "0\r\n"
    "X-Checksum: abc\r\n"
    "\r\n";

TEST(response_parser, chunked_with_extensions_and_trailers) {
  response_parser p;
  EXPECT_EQ(p.feed(k_chunked), k_chunked.size());
  ASSERT_TRUE(p.complete()) << to_string(p.error());
  EXPECT_TRUE(p.chunked());
  EXPECT_EQ(p.body(), "hello world");
  EXPECT_EQ(p.headers().find("x-checksum"), "abc");  // trailers join the header block
}

TEST(response_parser, every_split_point_and_byte_by_byte_give_the_same_message) {
  for (const std::string& wire : {k_nginx_like, k_chunked}) {
    for (size_t split = 0; split <= wire.size(); ++split) {
      response_parser p;
      EXPECT_EQ(feed_split(p, wire, split), wire.size()) << "split " << split;
      ASSERT_TRUE(p.complete()) << "split " << split << " " << to_string(p.error());
      EXPECT_EQ(p.wire_bytes(), wire.size());
      EXPECT_TRUE(p.body() == "hello world" || p.body() == "{\"ok\": true}\n");
    }
    response_parser p;
    EXPECT_EQ(feed_in_steps(p, wire, 1), wire.size());
    ASSERT_TRUE(p.complete());
  }
}

TEST(response_parser, pipelined_responses_leave_the_rest_unconsumed_at_every_split) {
  const std::string wire = k_nginx_like + k_chunked + k_nginx_like;
  for (size_t step : {1u, 2u, 3u, 7u, 64u, 4096u}) {
    response_parser p;
    std::string_view rest = wire;
    std::vector<std::string> bodies;
    while (!rest.empty()) {
      p.reset();
      const size_t used = feed_in_steps(p, rest, step);
      ASSERT_TRUE(p.complete()) << "step " << step;
      bodies.push_back(p.body());
      rest.remove_prefix(used);
    }
    EXPECT_EQ(bodies, (std::vector<std::string>{"{\"ok\": true}\n", "hello world", "{\"ok\": true}\n"}));
  }
}

TEST(response_parser, head_response_has_no_body_despite_content_length) {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 615\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
  response_parser p;
  p.reset(/*head_request=*/true);
  const size_t used = p.feed(wire);
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(p.body(), "");
  EXPECT_EQ(used, wire.find("HTTP/1.1 204"));
}

TEST(response_parser, status_204_and_304_have_no_body) {
  for (std::string status : {"204 No Content", "304 Not Modified"}) {
    const std::string wire = "HTTP/1.1 " + status + "\r\nContent-Length: 10\r\n\r\nnext";
    response_parser p;
    const size_t used = p.feed(wire);
    ASSERT_TRUE(p.complete()) << status;
    EXPECT_EQ(used, wire.size() - 4);
    EXPECT_TRUE(p.body().empty());
  }
}

TEST(response_parser, interim_100_continue_is_skipped) {
  const std::string wire = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  for (size_t split = 0; split <= wire.size(); ++split) {
    response_parser p;
    EXPECT_EQ(feed_split(p, wire, split), wire.size());
    ASSERT_TRUE(p.complete());
    EXPECT_EQ(p.status(), 201);
    EXPECT_EQ(p.body(), "ok");
    EXPECT_EQ(p.wire_bytes(), wire.size());
  }
}

TEST(response_parser, close_delimited_body_completes_on_eof) {
  const std::string wire = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end";
  response_parser p;
  EXPECT_EQ(p.feed(wire), wire.size());
  EXPECT_TRUE(p.header_complete());
  EXPECT_FALSE(p.complete());
  p.on_eof();
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(p.body(), "until the end");
  EXPECT_FALSE(p.keep_alive());
}

TEST(response_parser, http10_without_keep_alive_is_not_keep_alive) {
  response_parser p;
  p.feed(std::string_view("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_TRUE(p.complete());
  EXPECT_FALSE(p.keep_alive());
}

TEST(response_parser, eof_in_the_middle_is_unexpected_eof) {
  const std::vector<std::string> truncated = {
      "",                                                              // nothing at all
      "HTTP/1.1 200 OK\r\nContent-Le",                                 // inside the header
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",              // inside a sized body
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",  // inside a chunk
  };
  for (const auto& wire : truncated) {
    response_parser p;
    p.feed(wire);
    p.on_eof();
    EXPECT_FALSE(p.complete()) << wire;
    EXPECT_EQ(p.error(), parse_error::unexpected_eof) << wire;
  }
}

TEST(response_parser, conflicting_content_lengths_are_rejected) {
  for (std::string headers : {"Content-Length: 5\r\nContent-Length: 6\r\n", "Content-Length: 5x\r\n",
                              "Content-Length: -1\r\n", "Content-Length: 5, 6\r\n"}) {
    response_parser p;
    p.feed("HTTP/1.1 200 OK\r\n" + headers + "\r\nhello!");
    EXPECT_EQ(p.error(), parse_error::bad_content_length) << headers;
    EXPECT_EQ(p.feed(std::string_view("more")), 0u);  // nothing more is consumed after an error
  }
}

TEST(response_parser, malformed_status_lines_are_rejected) {
  for (std::string line : {"HTTP/1.1 2000 OK\r\n", "HTTP/2.0 200 OK\r\n", "HTTX/1.1 200 OK\r\n",
                           "HTTP/1.1 abc OK\r\n", "HTTP/1.1200 OK\r\n", "garbage\r\n", "HTTP/1.1 200 OK\n"}) {
    response_parser p;
    p.feed(line + "Content-Length: 0\r\n\r\n");
    EXPECT_EQ(p.error(), parse_error::malformed) << line;
    EXPECT_FALSE(p.complete());
  }
}

TEST(response_parser, bad_chunk_framing_is_malformed) {
  response_parser p;
  p.feed(std::string_view("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"));
  EXPECT_EQ(p.error(), parse_error::malformed);
}

TEST(response_parser, header_limit_holds_however_the_bytes_are_split) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nX-Big: " + std::string(2000, 'a') + "\r\nContent-Length: 0\r\n\r\n";
  for (size_t step : {1u, 100u, 100000u}) {
    response_parser p(parse_limits{.max_header_bytes = 1024, .max_body_bytes = 1024});
    feed_in_steps(p, wire, step);
    EXPECT_EQ(p.error(), parse_error::header_too_large) << step;
  }
  // The limit is on the whole header: a start line and a field block each under it, together over it.
  const std::string two_halves = "HTTP/1.1 200 " + std::string(700, 'r') + "\r\nX-Half: " + std::string(700, 'h') +
                                 "\r\nContent-Length: 0\r\n\r\n";
  for (size_t step : {1u, 100u, 100000u}) {
    for (bool fast : {true, false}) {
      response_parser p(parse_limits{.max_header_bytes = 1024, .max_body_bytes = 1024});
      p.set_fast_path(fast);
      feed_in_steps(p, two_halves, step);
      EXPECT_EQ(p.error(), parse_error::header_too_large) << step;
    }
  }
  request_parser r(parse_limits{.max_header_bytes = 1024, .max_body_bytes = 1024});
  r.feed(std::string_view("GET /" + std::string(700, 'p') + " HTTP/1.1\r\nX-Half: " + std::string(700, 'h') +
                          "\r\n\r\n"));
  EXPECT_EQ(r.error(), parse_error::header_too_large);
  // Exactly at the limit is fine, one byte over is not, however it arrives.
  for (size_t extra : {0u, 1u}) {
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: ";
    head += std::string(1024 - head.size() - 4 + extra, 'x') + "\r\n\r\n";
    ASSERT_EQ(head.size(), 1024u + extra);
    for (size_t step : {1u, 7u, 100000u}) {
      for (bool fast : {true, false}) {
        response_parser p(parse_limits{.max_header_bytes = 1024, .max_body_bytes = 1024});
        p.set_fast_path(fast);
        feed_in_steps(p, head + "ok", step);
        EXPECT_EQ(p.error(), extra == 0 ? parse_error::none : parse_error::header_too_large) << step << fast;
        EXPECT_EQ(p.complete(), extra == 0) << step << fast;
      }
    }
  }
  // A header that never ends is bounded too.
  response_parser p(parse_limits{.max_header_bytes = 1024, .max_body_bytes = 1024});
  p.feed(std::string_view("HTTP/1.1 200 OK\r\n"));
  for (int i = 0; i < 200 && p.error() == parse_error::none; ++i) {
    p.feed(std::string_view("X-A: b\r\n"));
  }
  EXPECT_EQ(p.error(), parse_error::header_too_large);
}

TEST(response_parser, body_limit_applies_to_content_length_chunked_and_close_delimited) {
  const parse_limits limits{.max_header_bytes = 1024, .max_body_bytes = 10};
  {
    response_parser p(limits);
    p.feed(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"));
    EXPECT_EQ(p.error(), parse_error::body_too_large);
  }
  {
    response_parser p(limits);
    p.feed(std::string_view(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n"));
    EXPECT_EQ(p.error(), parse_error::body_too_large);
  }
  {
    response_parser p(limits);
    p.feed(std::string_view("HTTP/1.1 200 OK\r\n\r\n0123456789abc"));
    EXPECT_EQ(p.error(), parse_error::body_too_large);
  }
  {
    response_parser p(limits);  // exactly at the limit is fine
    p.feed(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"));
    EXPECT_TRUE(p.complete());
  }
}


// A client may keep only the start of a body (or none of it): the message still parses to its end and
// stays reusable, the kept part is the body's prefix and the rest is counted, whatever the framing and
// however the bytes are split; the Content-Length reservation is capped by the kept size too.
TEST(response_parser, kept_body_limit_keeps_a_prefix_and_counts_the_rest) {
  const std::string body = "0123456789abcdefghij";  // 20 bytes
  const std::string wires[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + body,
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n0123456\r\nd\r\n789abcdefghij\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body,
  };
  for (const size_t keep : {size_t{0}, size_t{5}, size_t{20}, size_t{100}}) {
    for (const auto& wire : wires) {
      for (size_t step = 1; step <= wire.size(); ++step) {
        SCOPED_TRACE("keep " + std::to_string(keep) + ", step " + std::to_string(step) + ": " + wire);
        response_parser p(parse_limits{.max_kept_body_bytes = keep});
        feed_in_steps(p, wire, step);
        if (!p.complete()) p.on_eof();  // the close-delimited one
        ASSERT_TRUE(p.complete());
        EXPECT_EQ(p.body(), body.substr(0, keep));
        EXPECT_EQ(p.discarded_body_bytes(), body.size() - std::min(keep, body.size()));
        EXPECT_LE(p.body().capacity(), std::max<size_t>(2 * keep, 15)) << "holds more than it keeps";
      }
    }
  }
  // The count starts again with the next message.
  response_parser p(parse_limits{.max_kept_body_bytes = 4});
  p.feed(wires[0]);
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(p.discarded_body_bytes(), 16u);
  p.reset();
  p.feed(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(p.body(), "ok");
  EXPECT_EQ(p.discarded_body_bytes(), 0u);
}

// A Content-Length claim does not reserve beyond what will be kept (here: nothing, for a 60 MB claim).
TEST(response_parser, kept_body_limit_caps_the_reservation) {
  response_parser p(parse_limits{.max_kept_body_bytes = 0});
  p.feed(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 60000000\r\n\r\nabc"));
  EXPECT_FALSE(p.complete());
  EXPECT_EQ(p.body().capacity(), std::string().capacity());
  EXPECT_EQ(p.discarded_body_bytes(), 3u);
}
// The fast path for plain responses must be invisible: for every response below, at every split point,
// parsing with it and without it (Beast only) gives the same status, headers, body, framing and error.
TEST(response_parser, fast_path_and_beast_agree_at_every_split) {
  const std::vector<std::string> wires = {
      k_nginx_like,
      "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno",
      "HTTP/1.1 201 Cr\xc3\xa9\xc3\xa9\r\ncontent-length:3\r\nX-Pad:   padded \t \r\nX-Empty:\r\nX-Obs: caf\xc3\xa9\r\n\r\nabc",
      "HTTP/1.1 200 OK\r\nCONNECTION: Keep-Alive\r\nContent-Length: 007\r\n\r\n1234567",
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",         // duplicate: Beast
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",        // conflict: error
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 1\r\n\r\nx",  // list: Beast
      "HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 1\r\n\r\nx",                // obs-fold: Beast
      "HTTP/1.1 200 OK\r\nX-Bad: a\x01\r\nContent-Length: 1\r\n\r\nx",                   // control: error
      "HTTP/1.1 200 OK\r\nX Bad: a\r\nContent-Length: 1\r\n\r\nx",                       // bad name: error
      "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nx",                                   // bad length: error
      "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",                            // no body: Beast
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",      // chunked: Beast
      "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\ncut short",                           // EOF inside the body
      "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",                                   // HTTP/1.0: Beast
      "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n" + std::string(2000, 'b'),        // over the body limit
  };
  struct result {
    int status = 0;
    bool complete = false, keep_alive = false, chunked = false;
    std::string headers, body;
    parse_error error = parse_error::none;
    size_t used = 0;
    bool operator==(const result&) const = default;
  };
  auto parse = [](const std::string& wire, size_t split, bool fast) {
    response_parser p(parse_limits{.max_header_bytes = 1024, .max_body_bytes = 1024});
    p.set_fast_path(fast);
    result r;
    r.used = feed_split(p, wire, split);
    if (!p.complete() && p.error() == parse_error::none) p.on_eof();
    r.status = p.status();
    r.complete = p.complete();
    r.keep_alive = p.keep_alive();
    r.chunked = p.chunked();
    r.headers = p.headers().raw;
    r.body = p.body();
    r.error = p.error();
    return r;
  };
  for (const std::string& wire : wires) {
    for (size_t split = 0; split <= wire.size(); ++split) {
      const result fast = parse(wire, split, true);
      const result beast = parse(wire, split, false);
      EXPECT_TRUE(fast == beast) << "split " << split << " of: " << wire;
    }
  }
  // The first response takes the fast path and still reads exactly as Beast reads it.
  const result plain = parse(k_nginx_like, k_nginx_like.size(), true);
  EXPECT_TRUE(plain.complete);
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(plain.body, "{\"ok\": true}\n");
  EXPECT_EQ(plain.headers.rfind("Server: nginx/1.22.1\r\n", 0), 0u);
}

TEST(response_parser, reset_reuses_the_parser) {
  response_parser p;
  p.feed(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"));
  EXPECT_NE(p.error(), parse_error::none);
  p.reset();
  EXPECT_EQ(p.error(), parse_error::none);
  EXPECT_EQ(p.feed(k_nginx_like), k_nginx_like.size());
  EXPECT_TRUE(p.complete());
  EXPECT_EQ(p.headers().find("server"), "nginx/1.22.1");
  EXPECT_EQ(p.headers().raw.find("Content-Length: x"), std::string::npos);
}

TEST(response_parser, moved_parser_keeps_working) {
  response_parser a;
  a.feed(std::string_view("HTTP/1.1 200 OK\r\nContent-"));
  response_parser b = std::move(a);
  b.feed(std::string_view("Length: 2\r\n\r\nok"));
  ASSERT_TRUE(b.complete());
  EXPECT_EQ(b.body(), "ok");
}

// ---------------------------------------------------------------------------------------------------
const std::string k_request =
    "POST /api/cart/items?session=abc HTTP/1.1\r\n"
    "Host: shop.local\r\n"
    "Content-Type: application/json\r\n"
    "Cookie: sid=42\r\n"
    "Content-Length: 11\r\n"
    "\r\n"
    "{\"sku\": 7}\n";

TEST(request_parser, parses_a_request_at_every_split) {
  for (size_t split = 0; split <= k_request.size(); ++split) {
    request_parser p;
    EXPECT_EQ(feed_split(p, k_request, split), k_request.size());
    ASSERT_TRUE(p.complete()) << split;
    EXPECT_EQ(p.method(), "POST");
    EXPECT_EQ(p.target(), "/api/cart/items?session=abc");
    EXPECT_EQ(p.version(), 11);
    EXPECT_TRUE(p.keep_alive());
    EXPECT_EQ(p.headers().find("cookie"), "sid=42");
    EXPECT_EQ(p.body(), "{\"sku\": 7}\n");
  }
}

TEST(request_parser, pipelined_gets_without_body) {
  const std::string wire = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n" + k_request;
  for (size_t step : {1u, 5u, 1000u}) {
    std::string_view rest = wire;
    std::vector<std::string> targets;
    request_parser p;
    while (!rest.empty()) {
      p.reset();
      rest.remove_prefix(feed_in_steps(p, rest, step));
      ASSERT_TRUE(p.complete());
      targets.emplace_back(p.target());
    }
    EXPECT_EQ(targets, (std::vector<std::string>{"/a", "/b", "/api/cart/items?session=abc"}));
  }
}

TEST(request_parser, chunked_request_body) {
  request_parser p;
  p.feed(std::string_view("PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));
  ASSERT_TRUE(p.complete());
  EXPECT_EQ(p.body(), "abc");
}

// A read that ends inside a chunk header leaves a tail for the next read; that next read may be far
// larger than the header limit (a busy socket hands over whatever has piled up). Only an unfinished
// chunk-header line counts against the header limit, never chunk data that is about to be parsed.
TEST(request_parser, large_reads_after_a_split_chunk_header_are_body_not_header) {
  const std::string chunk = "4000\r\n" + std::string(0x4000, 'a') + "\r\n";
  std::string wire = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) wire += chunk;
  wire += "0\r\n\r\n";
  const size_t header_end = wire.find("\r\n\r\n") + 4;
  for (size_t split : {header_end + 2, header_end + chunk.size() + 3, header_end + 2 * chunk.size() + 1}) {
    request_parser p(parse_limits{.max_header_bytes = 8 * 1024, .max_body_bytes = 64 * 1024});
    const size_t used = feed_split(p, wire, split);
    EXPECT_EQ(p.error(), parse_error::none) << "split at " << split;
    EXPECT_TRUE(p.complete()) << "split at " << split;
    EXPECT_EQ(used, wire.size());
    EXPECT_EQ(p.body().size(), 4u * 0x4000);
  }
  // A chunk-header line that never ends is still bounded, however it arrives.
  request_parser p(parse_limits{.max_header_bytes = 1024, .max_body_bytes = 64 * 1024});
  p.feed(std::string_view("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext="));
  for (int i = 0; i < 200 && p.error() == parse_error::none; ++i) p.feed(std::string_view("aaaaaaaaaa"));
  EXPECT_EQ(p.error(), parse_error::header_too_large);
}

TEST(request_parser, http10_and_connection_close) {
  request_parser a;
  a.feed(std::string_view("GET / HTTP/1.0\r\n\r\n"));
  ASSERT_TRUE(a.complete());
  EXPECT_EQ(a.version(), 10);
  EXPECT_FALSE(a.keep_alive());
  request_parser b;
  b.feed(std::string_view("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(b.complete());
  EXPECT_FALSE(b.keep_alive());
}

TEST(request_parser, rejects_malformed_request_lines_and_smuggling_attempts) {
  for (std::string wire : {"GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/3.0\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
                           "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
                           "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"}) {
    request_parser p;
    p.feed(wire);
    EXPECT_NE(p.error(), parse_error::none) << wire;
    EXPECT_FALSE(p.complete());
  }
}

TEST(request_parser, limits_and_eof) {
  request_parser big(parse_limits{.max_header_bytes = 64, .max_body_bytes = 4});
  big.feed("GET / HTTP/1.1\r\nX: " + std::string(100, 'y') + "\r\n\r\n");
  EXPECT_EQ(big.error(), parse_error::header_too_large);

  request_parser body(parse_limits{.max_header_bytes = 64, .max_body_bytes = 4});
  body.feed(std::string_view("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"));
  EXPECT_EQ(body.error(), parse_error::body_too_large);

  request_parser cut;
  cut.feed(std::string_view("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"));
  cut.on_eof();
  EXPECT_EQ(cut.error(), parse_error::unexpected_eof);
}

TEST(parse_error, names) {
  EXPECT_EQ(to_string(parse_error::header_too_large), "header_too_large");
  EXPECT_EQ(to_string(parse_error::unexpected_eof), "unexpected_eof");
}

}  // namespace
}  // namespace stampede::http
