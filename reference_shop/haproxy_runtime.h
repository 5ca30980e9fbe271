// A small client of HAProxy's runtime API (a TCP stats socket on 127.0.0.1): one command, one answer,
// bounded by a deadline. The supervisor uses it to know when the database HAProxy has checked every member.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace stampede::shop {

// The answer to `command` (HAProxy closes the connection after it), or nullopt when the socket does not
// answer within `timeout`.
std::optional<std::string> haproxy_runtime_command(uint16_t port, std::string_view command,
                                                   std::chrono::milliseconds timeout);

// `show servers state BACKEND`: server name -> srv_op_state (0 stopped/down, 2 running/up, ...).
std::optional<std::map<std::string, int>> haproxy_server_states(uint16_t port, std::string_view backend,
                                                                std::chrono::milliseconds timeout);

}  // namespace stampede::shop
