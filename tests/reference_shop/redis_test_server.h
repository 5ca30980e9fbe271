// A throwaway redis-server for one test, through the shop's own redis_server: started in a temporary
// directory on a free 127.0.0.1 port, with a password; tests kill, pause and restart it. If the test
// process dies, the server follows it (PR_SET_PDEATHSIG). A missing binary fails the test with one line
// naming the package; it is never skipped.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <string>

#include "reference_shop/redis_client.h"
#include "reference_shop/redis_server.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop::testing {

class redis_test_server {
 public:
  redis_test_server() : server_(make_options(dir_)) { server_.start(); }
  redis_test_server(const redis_test_server&) = delete;
  redis_test_server& operator=(const redis_test_server&) = delete;

  redis_server& server() { return server_; }
  pid_t pid() const { return server_.pid(); }
  uint16_t port() const { return server_.port(); }
  // Client settings for this server. Generous timeouts unless a test is about them: other processes load
  // this machine, and a spurious timeout would take a path the test did not mean to.
  redis::client_options client(std::chrono::milliseconds command_timeout = std::chrono::milliseconds{1000}) const {
    redis::client_options o;
    o.port = server_.port();
    o.password = server_.password();
    o.command_timeout = command_timeout;
    o.connect_timeout = std::chrono::milliseconds{500};
    o.pool_wait = command_timeout;
    o.backoff_initial = std::chrono::milliseconds{20};
    o.backoff_max = std::chrono::milliseconds{200};
    return o;
  }
  // SIGKILL and reap: the server is gone, as in a crash.
  void kill() {
    const pid_t pid = server_.pid();
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    server_.release();
  }
  // Starts it again on the same port and password (empty: no persistence).
  void restart() { server_.start(); }

 private:
  static redis_server_options make_options(const temp_dir& dir) {
    redis_server_options o;
    o.dir = dir.path() / "redis";
    return o;
  }

  temp_dir dir_;
  redis_server server_;
};

}  // namespace stampede::shop::testing
