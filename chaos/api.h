// Toxiproxy-compatible HTTP control API over a proxy_server, plus the JSON forms used by the
// `stampede proxy --config` file. Paths, JSON shapes and status codes follow Toxiproxy 2.x
// (docs/CHAOS.md lists the differences). Errors are {"error": "...", "status": N}.
// Thread-safety: the handler may be called concurrently (it only calls proxy_server, which is safe).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chaos/proxy_server.h"
#include "common/http_server.h"

namespace stampede::chaos {

struct api_options {
  bool allow_remote = false;   // false: requests from non-loopback peers get 403
  // With allow_remote, non-loopback peers must send "Authorization: Bearer <token>" (401 otherwise);
  // loopback peers need no token. `stampede proxy --allow-remote` refuses to start without one.
  std::string token{};
};

// The request handler for common/http_server.
http::handler make_api_handler(proxy_server& server, api_options options = {});

// Parses a JSON array of proxies ({"name","listen","upstream","enabled"}) as POST /populate takes it.
// Throws chaos_error(invalid_argument) naming the problem.
std::vector<proxy_config> parse_proxy_list(std::string_view json);

// Parses a toxic as POST /proxies/{p}/toxics takes it. With `base`, fields absent from the JSON keep
// base's values (update semantics). Throws chaos_error(invalid_argument).
toxic_spec parse_toxic(std::string_view json, const toxic_spec* base = nullptr);

std::string to_json(const toxic_spec& toxic);
std::string to_json(const proxy_info& proxy);

}  // namespace stampede::chaos
