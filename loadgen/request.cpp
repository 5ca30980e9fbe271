#include "loadgen/request.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace stampede::loadgen {

namespace {

bool equals_ci(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != lower[i]) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// RFC 6265 5.1.4: the cookie's path is a prefix of the request's, ending at a "/" boundary.
bool path_matches(std::string_view cookie_path, std::string_view request_target) {
  const std::string_view path = request_target.substr(0, request_target.find('?'));
  if (!path.starts_with(cookie_path)) return false;
  return path.size() == cookie_path.size() || cookie_path.back() == '/' || path[cookie_path.size()] == '/';
}

void append_number(std::string& out, size_t value) {
  char text[24];
  auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  out.append(text, end);
}

}  // namespace

void cookie_jar::store(const parsed_url& url, const http::header_block& headers) {
  headers.for_each([&](std::string_view name, std::string_view value) {
    if (name.size() == 10 && equals_ci(name, "set-cookie")) store(url, value);
  });
}

void cookie_jar::store(const parsed_url& url, std::string_view set_cookie) {
  const std::string_view pair = set_cookie.substr(0, set_cookie.find(';'));
  const size_t eq = pair.find('=');
  if (eq == std::string_view::npos) return;
  const std::string_view name = trim(pair.substr(0, eq));
  if (name.empty()) return;
  cookie c{url.host, "/", std::string(name), std::string(trim(pair.substr(eq + 1)))};
  bool expired = false;
  std::string_view attributes = set_cookie.substr(pair.size());
  while (!attributes.empty()) {
    attributes.remove_prefix(1);  // ';'
    const std::string_view attribute = attributes.substr(0, attributes.find(';'));
    attributes.remove_prefix(attribute.size());
    const size_t sep = attribute.find('=');
    const std::string_view key = trim(attribute.substr(0, sep));
    const std::string_view value =
        sep == std::string_view::npos ? std::string_view{} : trim(attribute.substr(sep + 1));
    if (equals_ci(key, "max-age")) {
      expired = value == "0" || value.starts_with('-');
    } else if (equals_ci(key, "path") && value.starts_with('/')) {
      c.path = value;
    }
  }
  auto it = std::find_if(cookies_.begin(), cookies_.end(), [&](const cookie& old) {
    return old.host == c.host && old.path == c.path && old.name == c.name;
  });
  if (expired) {
    if (it != cookies_.end()) cookies_.erase(it);
  } else if (it != cookies_.end()) {
    it->value = std::move(c.value);
  } else {
    cookies_.push_back(std::move(c));
  }
}

void cookie_jar::append_header(std::string& wire, const parsed_url& url) const {
  bool first = true;
  for (const cookie& c : cookies_) {
    if (c.host != url.host || !path_matches(c.path, url.path)) continue;
    wire.append(first ? "Cookie: " : "; ").append(c.name).append("=").append(c.value);
    first = false;
  }
  if (!first) wire.append("\r\n");
}

void http_request::clear() {
  method.clear();
  url = nullptr;
  headers.clear();
  body.clear();
  content_type = {};
  expected_statuses.clear();
  tags.clear();
  step = 0;
}

void http_request::write_to(http_job& job, std::string_view user_agent, const cookie_jar& jar) const {
  std::string& wire = job.wire;
  wire.clear();
  wire.append(method).append(" ").append(url->path).append(" HTTP/1.1\r\nHost: ");
  url->append_host_header(wire);
  wire.append("\r\n");
  bool has_user_agent = false, has_cookie = false, has_content_type = false;
  for (const auto& [name, value] : headers) {
    if (equals_ci(name, "host") || equals_ci(name, "content-length")) continue;  // from the URL and the body
    has_user_agent |= equals_ci(name, "user-agent");
    has_cookie |= equals_ci(name, "cookie");
    has_content_type |= equals_ci(name, "content-type");
    wire.append(name).append(": ").append(value).append("\r\n");
  }
  if (!has_user_agent && !user_agent.empty()) wire.append("User-Agent: ").append(user_agent).append("\r\n");
  if (!has_content_type && !content_type.empty())
    wire.append("Content-Type: ").append(content_type).append("\r\n");
  if (!has_cookie) jar.append_header(wire, *url);
  const bool body_method = method == "POST" || method == "PUT" || method == "PATCH";
  if (!body.empty() || body_method) {
    wire.append("Content-Length: ");
    append_number(wire, body.size());
    wire.append("\r\n");
  }
  wire.append("\r\n").append(body);
  job.head = method == "HEAD";
  job.idempotent =
      method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" || method == "DELETE";
  job.timeout = timeout;
}

void http_request::settle(http_outcome& out, cookie_jar& jar) const {
  if (out.status == 0) return;  // no response: nothing to classify, no cookie
  if (!expected_statuses.empty()) {
    const bool expected =
        std::find(expected_statuses.begin(), expected_statuses.end(), out.status) != expected_statuses.end();
    out.error = expected            ? error_kind::none
                : out.status >= 500 ? error_kind::status_5xx
                : out.status >= 400 ? error_kind::status_4xx
                                    : error_kind::other;  // e.g. a 200 where only 201 was expected
  }
  jar.store(*url, out.headers);
}

}  // namespace stampede::loadgen
