// Our Beast-based parsers (with and without the fast path for plain responses) against nodejs
// http_parser over the same bytes: a typical nginx response
// (~250 B of headers + 615 B body), a chunked response, and a typical request. Both sides do the same
// work: parse, keep the headers as "Name: value\r\n" lines, and copy the body into a std::string.
//   http_parse_benchmark --benchmark_min_time=0.5
#include <benchmark/benchmark.h>
#include <http_parser.h>

#include <string>

#include "common/http_parse.h"

namespace {

std::string nginx_response() {
  return "HTTP/1.1 200 OK\r\n"
         "Server: nginx/1.22.1\r\n"
         "Date: Sat, 22 Nov 2025 06:31:00 GMT\r\n"
         "Content-Type: application/json\r\n"
         "Content-Length: 615\r\n"
         "Last-Modified: Sat, 22 Nov 2025 06:00:00 GMT\r\n"
         "Connection: keep-alive\r\n"
         "ETag: \"6b028f52-267\"\r\n"
         "Accept-Ranges: bytes\r\n"
         "\r\n" +
         std::string("{\"data\":\"") + std::string(604, 'x') + "\"}";
}

std::string chunked_response() {
  std::string wire =
      "HTTP/1.1 200 OK\r\n"
      "Server: nginx/1.22.1\r\n"
      "Date: Sat, 22 Nov 2025 06:31:00 GMT\r\n"
      "Content-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n"
      "Connection: keep-alive\r\n"
      "\r\n";
  for (int i = 0; i < 8; ++i) wire += "4d\r\n" + std::string(0x4d, 'c') + "\r\n";
  return wire + "0\r\n\r\n";
}

std::string typical_request() {
  return "GET /api/products?page=2&sort=price HTTP/1.1\r\n"
         "Host: shop.local:8080\r\n"
         "User-Agent: stampede/0.1\r\n"
         "Accept: application/json\r\n"
         "Accept-Encoding: gzip, deflate\r\n"
         "Cookie: sid=4f2a9c1e7b; cart=17\r\n"
         "Connection: keep-alive\r\n"
         "\r\n";
}

// ---- ours ----
void bm_ours_response(benchmark::State& state, const std::string& wire, bool fast_path = true) {
  stampede::http::response_parser parser;
  parser.set_fast_path(fast_path);
  for (auto _ : state) {
    parser.reset();
    const size_t used = parser.feed(wire);
    if (!parser.complete() || used != wire.size()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(parser.body().data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}

void bm_ours_request(benchmark::State& state, const std::string& wire) {
  stampede::http::request_parser parser;
  for (auto _ : state) {
    parser.reset();
    parser.feed(wire);
    if (!parser.complete()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(parser.target().data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}

// ---- nodejs http_parser, doing equivalent work ----
struct node_message {
  std::string headers, body, url, last_field;
  bool complete = false;
};

int on_url(http_parser* p, const char* at, size_t n) {
  static_cast<node_message*>(p->data)->url.append(at, n);
  return 0;
}
int on_field(http_parser* p, const char* at, size_t n) {
  auto* m = static_cast<node_message*>(p->data);
  m->headers.append(at, n);
  m->headers.append(": ");
  return 0;
}
int on_value(http_parser* p, const char* at, size_t n) {
  auto* m = static_cast<node_message*>(p->data);
  m->headers.append(at, n);
  m->headers.append("\r\n");
  return 0;
}
int on_body(http_parser* p, const char* at, size_t n) {
  static_cast<node_message*>(p->data)->body.append(at, n);
  return 0;
}
int on_complete(http_parser* p) {
  static_cast<node_message*>(p->data)->complete = true;
  return 0;
}

http_parser_settings node_settings() {
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_url = on_url;
  s.on_header_field = on_field;
  s.on_header_value = on_value;
  s.on_body = on_body;
  s.on_message_complete = on_complete;
  return s;
}

void bm_node(benchmark::State& state, const std::string& wire, http_parser_type type) {
  const http_parser_settings settings = node_settings();
  http_parser parser;
  node_message m;
  for (auto _ : state) {
    http_parser_init(&parser, type);
    parser.data = &m;
    m.headers.clear();
    m.body.clear();
    m.url.clear();
    m.complete = false;
    const size_t used = http_parser_execute(&parser, &settings, wire.data(), wire.size());
    if (!m.complete || used != wire.size()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(m.body.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}

const std::string k_nginx = nginx_response();
const std::string k_chunked = chunked_response();
const std::string k_request = typical_request();

BENCHMARK_CAPTURE(bm_ours_response, nginx_615, k_nginx);
BENCHMARK_CAPTURE(bm_ours_response, nginx_615_beast_only, k_nginx, false);
BENCHMARK_CAPTURE(bm_node, response_nginx_615, k_nginx, HTTP_RESPONSE);
BENCHMARK_CAPTURE(bm_ours_response, chunked_8x77, k_chunked);
BENCHMARK_CAPTURE(bm_node, response_chunked_8x77, k_chunked, HTTP_RESPONSE);
BENCHMARK_CAPTURE(bm_ours_request, get, k_request);
BENCHMARK_CAPTURE(bm_node, request_get, k_request, HTTP_REQUEST);

}  // namespace

BENCHMARK_MAIN();
