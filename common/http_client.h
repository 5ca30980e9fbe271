// A simple blocking HTTP/1.1 client with a deadline on every exchange, for tests, tools, the drill
// checker and the shop's calls to the payment emulator. NOT the load generator's hot path (that is
// loadgen/http_connection). Keeps one keep-alive connection and reconnects when needed.
// Thread-safety: none; one client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "common/http_parse.h"

namespace stampede::http {

struct client_response {
  int status = 0;
  header_block headers;
  std::string body;
};

class blocking_client {
 public:
  blocking_client(std::string host, uint16_t port,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds{5000});
  ~blocking_client();
  blocking_client(blocking_client&&) noexcept;
  blocking_client& operator=(blocking_client&&) noexcept;

  // Sends one request and reads the whole response within the timeout. Adds Host and Content-Length.
  // Throws std::system_error on connect failure, reset, timeout (errc::timed_out) or a malformed
  // response (errc::bad_message).
  client_response request(std::string_view method, std::string_view target, std::string_view body = {},
                          const std::vector<std::pair<std::string, std::string>>& headers = {});
  client_response get(std::string_view target) { return request("GET", target); }
  client_response post_json(std::string_view target, std::string_view json,
                            std::vector<std::pair<std::string, std::string>> headers = {});

  void set_timeout(std::chrono::milliseconds timeout) noexcept;
  void close() noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace stampede::http
