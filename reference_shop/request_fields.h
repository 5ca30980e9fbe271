// Reading a shop API request: JSON bodies and typed fields with their bounds, ids, session tokens, the
// rate limiter's client identity. Bad input throws `bad_input`, which the node turns into a JSON 4xx.
// Thread-safety: pure functions.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_server.h"

namespace stampede::shop {

// Bad input from the client: becomes a JSON 4xx.
struct bad_input {
  int status;
  std::string error;
  std::string detail;
};

[[noreturn]] void reject(int status, std::string error, std::string detail);

std::optional<int64_t> parse_id(std::string_view text);
int64_t require_id(std::string_view text, std::string_view what);
// The body as a JSON object (depth <= 16); `allow_empty`: an empty body is {}.
boost::json::object parse_body(const http::request& request, bool allow_empty = false);
int64_t int_field(const boost::json::object& o, std::string_view name, int64_t min, int64_t max);
std::string string_field(const boost::json::object& o, std::string_view name, size_t min, size_t max);

http::response json_response(int status, const boost::json::object& body);

// Session tokens are 64 lowercase hex characters.
bool valid_token(std::string_view token);
// Segments of a path: "/api/products/7" -> {"api", "products", "7"}.
std::vector<std::string_view> split_path(std::string_view path);
bool constant_time_equal(std::string_view a, std::string_view b);
// The token of "Authorization: Bearer TOKEN", or empty.
std::string bearer(const http::request& request);
// The session token of a request: Bearer, else the `sid` cookie; empty when neither.
std::string session_token(const http::request& request);
// The rate limiter's client identity: the right-most X-Forwarded-For value, else the peer address.
std::string client_key(const http::request& request);

}  // namespace stampede::shop
