// One HTTP request of a VU, typed: what the Lua binding (lua_http.cpp) reads from http.get/post/...
// and the worker hands to the engine (http_engine.h), and the VU's cookie jar. Everything about one
// request's HTTP behaviour lives here: the bytes on the wire (Host, User-Agent, Content-Type, Cookie,
// Content-Length), which statuses count as failures, and what Set-Cookie does.
//
// Thread-safety: none; a VU's request and jar are used by its worker's thread only.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loadgen/http_engine.h"
#include "loadgen/url.h"

namespace stampede::loadgen {

// A cookie as far as the generator keeps them (RFC 6265's basics): per host (no Domain attribute: sent
// to the host that set it only), an explicit Path limits where it is sent, Max-Age=0 (or negative)
// deletes it. Expires is not read; the jar lives as long as the VU.
struct cookie {
  std::string host;
  std::string path = "/";
  std::string name;
  std::string value;
};

class cookie_jar {
 public:
  // Stores (or replaces, or deletes) the cookies of every Set-Cookie header of a response to `url`.
  void store(const parsed_url& url, const http::header_block& headers);
  // One Set-Cookie value ("name=value; Path=/; Max-Age=60") from a response to `url`.
  void store(const parsed_url& url, std::string_view set_cookie);
  // Appends "Cookie: a=1; b=2\r\n" with the cookies for `url` (nothing when none applies).
  void append_header(std::string& wire, const parsed_url& url) const;
  const std::vector<cookie>& cookies() const noexcept { return cookies_; }
  void clear() noexcept { cookies_.clear(); }

 private:
  std::vector<cookie> cookies_;
};

struct http_request {
  std::string method;               // "GET", "POST", ... (checked by the binding)
  const parsed_url* url = nullptr;  // owned by the caller (the VU's request_cache), alive until completion
  std::vector<std::pair<std::string, std::string>> headers;  // as given (Host, Content-Length: ignored)
  std::string body;
  std::string_view content_type;       // implied by params.json / params.form; a Content-Type header wins
  std::string content_type_buffer;     // a content type built per request (multipart's boundary)
  std::vector<int> expected_statuses;  // params.expectedStatuses; empty: a status >= 400 fails
  size_t step = 0;                     // the metric step (params.name or "METHOD /path"): the request's tag
  // params.tags, kept only while a threshold asks for a tag set (worker_metrics::tagged_steps): else nothing
  // is copied for them.
  std::vector<std::pair<std::string, std::string>> tags;
  std::chrono::nanoseconds timeout{std::chrono::seconds(60)};

  // Forgets the previous request (keeps the buffers' capacity: a VU reuses one request).
  void clear();
  // Serialises the request into `job` (wire bytes, HEAD, idempotence, timeout). An empty `user_agent`
  // sends none (as in k6); the jar's cookies go unless the script gave a Cookie header.
  void write_to(http_job& job, std::string_view user_agent, const cookie_jar& jar) const;
  // What the response means for the request: the expected statuses decide failure (a 409 may be an
  // outcome, a 200 where only 201 was expected a failure), and Set-Cookie updates the jar.
  void settle(http_outcome& out, cookie_jar& jar) const;
};

}  // namespace stampede::loadgen
