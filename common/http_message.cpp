// HTTP requests' and responses' helpers: the path, query parameters and cookies of a request; JSON,
// text and error responses.
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <string>
#include <string_view>

#include "common/cookie_header.h"
#include "common/http_server.h"

namespace stampede::http {

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Calls f(name, raw_value) for each "a=b" pair of a query string; returns true to stop.
template <class F>
void for_each_param(std::string_view query, F&& f) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (f(name, value)) return;
  }
}

}  // namespace

std::string_view request::path() const noexcept {
  const std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view request::query() const noexcept {
  const std::string_view t = target;
  const size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

std::string request::query_param(std::string_view name) const {
  std::string result;
  for_each_param(query(), [&](std::string_view n, std::string_view v) {
    if (percent_decode(n) != name) return false;
    result = percent_decode(v);
    return true;
  });
  return result;
}

bool request::has_query_param(std::string_view name) const {
  bool found = false;
  for_each_param(query(),
                 [&](std::string_view n, std::string_view) { return found = percent_decode(n) == name; });
  return found;
}

std::string_view request::cookie(std::string_view name) const noexcept {
  std::string_view found;
  for_each_cookie(headers.find("cookie"), [&](std::string_view n, std::string_view v) {
    if (n == name) found = v;
    return n == name;
  });
  return found;
}

response response::json(int status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

response response::text(int status, std::string body) {
  response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

response response::error(int status, std::string_view error, std::string_view detail) {
  boost::json::object o;
  o["error"] = boost::json::string_view(error.data(), error.size());
  o["detail"] = boost::json::string_view(detail.data(), detail.size());
  return json(status, boost::json::serialize(o));
}

}  // namespace stampede::http
