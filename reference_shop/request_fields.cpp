#include "reference_shop/request_fields.h"

#include <sodium.h>
#include <strings.h>

#include <boost/json.hpp>
#include <charconv>

#include "common/text.h"

namespace stampede::shop {

namespace json = boost::json;

[[noreturn]] void reject(int status, std::string error, std::string detail) {
  throw bad_input{status, std::move(error), std::move(detail)};
}

std::optional<int64_t> parse_id(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value <= 0) return std::nullopt;
  return value;
}

int64_t require_id(std::string_view text, std::string_view what) {
  auto id = parse_id(text);
  if (!id) reject(400, "bad_request", std::string{what} + " must be a positive integer");
  return *id;
}

json::object parse_body(const http::request& request, bool allow_empty) {
  if (request.body.empty() && allow_empty) return {};
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 16;
  json::value value = json::parse(request.body, ec, {}, options);
  if (ec) reject(400, "bad_request", "malformed JSON: " + ec.message());
  if (!value.is_object()) reject(400, "bad_request", "the body must be a JSON object");
  return std::move(value.as_object());
}

int64_t int_field(const json::object& o, std::string_view name, int64_t min, int64_t max) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) reject(400, "bad_request", "missing field '" + std::string{name} + "'");
  int64_t value = 0;
  if (v->is_int64()) {
    value = v->as_int64();
  } else if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(max)) {
    value = static_cast<int64_t>(v->as_uint64());
  } else {
    reject(400, "bad_request", "field '" + std::string{name} + "' must be an integer");
  }
  if (value < min || value > max) {
    reject(400, "bad_request",
           "field '" + std::string{name} + "' must be between " + std::to_string(min) + " and " +
               std::to_string(max));
  }
  return value;
}

std::string string_field(const json::object& o, std::string_view name, size_t min, size_t max) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) reject(400, "bad_request", "missing field '" + std::string{name} + "'");
  if (!v->is_string()) reject(400, "bad_request", "field '" + std::string{name} + "' must be a string");
  const auto& s = v->as_string();
  if (s.size() < min || s.size() > max) {
    reject(400, "bad_request",
           "field '" + std::string{name} + "' must have " + std::to_string(min) + " to " +
               std::to_string(max) + " characters");
  }
  return std::string{s};
}

http::response json_response(int status, const json::object& body) {
  return http::response::json(status, json::serialize(body));
}

bool valid_token(std::string_view token) {
  if (token.size() != 64) return false;
  for (char c : token) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Segments of a path: "/api/products/7" -> {"api", "products", "7"}.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size() || a.empty()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string bearer(const http::request& request) {
  std::string_view auth = request.header("Authorization");
  if (auth.size() > 7 && (auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer ")) {
    return std::string{auth.substr(7)};
  }
  return {};
}

// The rate limiter's client identity. Only the right-most X-Forwarded-For value can be trusted: it is the
// one our HAProxy (`option forwardfor`) appended, as a last header line; everything left of it came from
// the client. (Hardening fix: the first value was used, so any client could dodge its per-client limit by
// sending a different X-Forwarded-For with every request.)
std::string session_token(const http::request& request) {
  std::string token = bearer(request);
  if (token.empty()) token = std::string{request.cookie("sid")};
  return token;
}

std::string client_key(const http::request& request) {
  std::string_view last;
  request.headers.for_each([&](std::string_view name, std::string_view value) {
    if (name.size() == 15 && strncasecmp(name.data(), "X-Forwarded-For", 15) == 0) last = value;
  });
  if (const size_t comma = last.rfind(','); comma != std::string_view::npos) last.remove_prefix(comma + 1);
  last = trim(last, " \t");
  if (!last.empty()) return std::string{last};
  return request.remote_address;
}

}  // namespace stampede::shop
