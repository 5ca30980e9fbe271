// One named proxy's listener: binds, accepts on its strand, caps connections, and starts a
// `connection` per accepted client. Internal to chaos/. Thread-safety: callers serialise calls
// (proxy_server holds its mutex); the accept loop runs on the listener's strand.
#pragma once

#include <boost/asio/strand.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chaos/proxy_internal.h"

namespace stampede::chaos {

class proxy_listener {
 public:
  // Why listening on `listen` would make the proxy send traffic back to itself, or nullopt.
  using loop_check = std::function<std::optional<std::string>(const tcp::endpoint& listen)>;

  proxy_listener(std::shared_ptr<proxy_shared> shared, proxy_config config);
  ~proxy_listener() { stop(); }
  proxy_listener(const proxy_listener&) = delete;
  proxy_listener& operator=(const proxy_listener&) = delete;

  const proxy_config& config() const { return config_; }
  proxy_shared& shared() { return *shared_; }
  const proxy_shared& shared() const { return *shared_; }
  // The address it listens on (or will: a known port), if known.
  std::optional<tcp::endpoint> listen_endpoint() const;

  // Binds on the calling thread (so errors surface to the caller), then accepts on the strand. With
  // port 0, a port that `loops` refuses is traded for another; with a fixed port the refusal throws
  // chaos_error(invalid_argument). Also throws invalid_argument (non-loopback without allow_remote)
  // and io_error (bind failed).
  void start(const loop_check& loops);
  // Closes the listener (waits up to 1 s so that new connects are refused on return) and all connections.
  void stop();

  void set_listen(std::string listen);
  void set_upstream(std::string upstream, std::vector<tcp::endpoint> endpoints);
  void set_max_connections(size_t max);

 private:
  std::shared_ptr<tcp::acceptor> bind(const tcp::endpoint& endpoint);
  void retire(std::shared_ptr<tcp::acceptor> acceptor);
  static bool over_capacity(proxy_shared& shared);
  static asio::awaitable<void> accept_loop(std::shared_ptr<tcp::acceptor> acceptor,
                                           std::shared_ptr<proxy_shared> shared);

  std::shared_ptr<proxy_shared> shared_;
  proxy_config config_;
  asio::strand<asio::io_context::executor_type> strand_;
  std::shared_ptr<tcp::acceptor> acceptor_;
  std::optional<tcp::endpoint> bound_;
};

}  // namespace stampede::chaos
