#include "reference_shop/redis_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <thread>

#include "common/loopback.h"
#include "reference_shop/child_process.h"
#include "reference_shop/passwords.h"
#include "reference_shop/redis_client.h"

namespace stampede::shop {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

namespace {

// Whether the server answers an authenticated PING within short timeouts.
bool answers(uint16_t port, const std::string& password) {
  redis::client_options o;
  o.port = port;
  o.password = password;
  o.pool_size = 1;
  o.connect_timeout = std::chrono::milliseconds{200};
  o.command_timeout = std::chrono::milliseconds{500};
  try {
    redis::client c{o};
    return c.command({"PING"}).text == "PONG";
  } catch (const redis::error&) {
    return false;
  }
}

}  // namespace

redis_server::redis_server(redis_server_options options)
    : options_(std::move(options)), password_(random_token()) {}

redis_server::~redis_server() { stop(std::chrono::seconds{2}); }

void redis_server::check_binary() const {
  if (::access(options_.bin.c_str(), X_OK) != 0) {
    throw std::runtime_error("Redis not found: " + options_.bin +
                             " is missing; install Debian's redis-server package (scripts/setup.sh installs it)");
  }
}

void redis_server::write_config() const {
  const fs::path path = options_.dir / "redis.conf";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(errno));
  const std::string text =
      "# Written by stampede shop for each start; edits are overwritten.\n"
      "bind 127.0.0.1\n"
      "port " + std::to_string(port_) + "\n"
      "protected-mode yes\n"
      "requirepass " + password_ + "\n"
      "daemonize no\n"
      "dir \"" + options_.dir.string() + "\"\n"
      "logfile \"\"\n"
      "save \"\"\n"
      "appendonly no\n"
      "maxmemory " + std::to_string(options_.maxmemory_mb) + "mb\n"
      "maxmemory-policy " + options_.maxmemory_policy + "\n"
      "databases 1\n"
      "tcp-keepalive 60\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write " + path.string());
}

pid_t redis_server::launch() const {
  const std::string config = (options_.dir / "redis.conf").string();
  return spawn_as(nullptr, options_.bin, {"redis-server", config}, {}, log_path(), SIGKILL);
}

pid_t redis_server::start(std::chrono::milliseconds timeout) {
  if (pid_ > 0) throw std::logic_error("redis_server::start while running");
  check_binary();
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) throw std::runtime_error("cannot create " + options_.dir.string() + ": " + ec.message());
  options_.dir = fs::absolute(options_.dir);
  const bool fixed_port = options_.port != 0 || port_ != 0;  // a restart keeps its port: nodes know it
  const auto deadline = steady::now() + timeout;
  for (int attempt = 1;; ++attempt) {
    if (port_ == 0) port_ = options_.port != 0 ? options_.port : free_loopback_port();
    write_config();
    pid_ = launch();
    while (true) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        const std::string tail = log_tail();
        if (!fixed_port && attempt < 3 && tail.find("Address already in use") != std::string::npos) {
          port_ = 0;  // the free port was taken between finding and binding it: another one
          break;
        }
        throw std::runtime_error("redis-server exited at start (" + describe_status(status) + "): " + tail);
      }
      if (answers(port_, password_)) return pid_;
      if (steady::now() >= deadline) {
        stop(std::chrono::seconds{1});
        throw std::runtime_error("redis-server did not answer within " + std::to_string(timeout.count()) +
                                 " ms: " + log_tail());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{20});  // polling a starting server
    }
  }
}

void redis_server::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  const pid_t pid = pid_;
  pid_ = -1;
  ::kill(pid, SIGTERM);  // without persistence Redis exits at once
  ::kill(pid, SIGCONT);  // a paused server (a test's SIGSTOP) could not take it
  if (wait_exit(pid, steady::now() + grace)) return;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

std::string redis_server::log_tail(size_t lines) const { return shop::log_tail(log_path(), lines); }

}  // namespace stampede::shop
