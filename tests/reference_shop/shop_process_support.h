// Helpers for the tests that run the real shop binary (`STAMPEDE_BINARY shop ...`): child processes with a
// bounded wait, HAProxy's runtime API, and a fixture that starts a shop and checks nothing is left behind.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop::testing {

namespace json = boost::json;
using namespace std::chrono_literals;

struct process {
  pid_t pid = -1;
  int stdout_fd = -1;
};

// Starts the stampede binary with `args`; stdout is a pipe, stderr goes to `stderr_file`.
inline process spawn(std::vector<std::string> args, const std::string& stderr_file,
                     std::vector<std::pair<std::string, std::string>> env = {}) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  args.insert(args.begin(), STAMPEDE_BINARY);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(fds[1], 1);
    const int err = ::open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(err, 2);
    for (auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  return process{pid, fds[0]};
}

inline std::string read_line(int fd, std::chrono::milliseconds timeout) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char c[256];
    const ssize_t n = ::read(fd, c, sizeof c);
    if (n <= 0) break;
    line.append(c, static_cast<size_t>(n));
  }
  return line.substr(0, line.find('\n'));
}

inline std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  std::optional<int> result;
  eventually(
      [&] {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) result = status;
        return result.has_value();
      },
      timeout);
  return result;
}

inline bool gone(pid_t pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

inline uint16_t port_of(const std::string& url) {
  return static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
}

// HAProxy runtime API: the operational state of `server` in backend nodes (2 = up, 0 = down).
inline int server_state(const std::string& runtime, const std::string& server) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_of(runtime));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  const std::string command = "show servers state nodes\n";
  [[maybe_unused]] auto w = ::write(fd, command.data(), command.size());
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<size_t>(n));
  ::close(fd);
  // Columns: be_id be_name srv_id srv_name srv_addr srv_op_state ...
  size_t at = text.find(" " + server + " ");
  if (at == std::string::npos) return -1;
  std::istringstream fields{text.substr(at + 1)};
  std::string name, address;
  int state = -1;
  fields >> name >> address >> state;
  return state;
}

class shop_process_test : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra) {
    std::vector<std::string> args{"shop", "--port", "0", "--kdf", "minimal", "--data", dir_.path().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    supervisor_ = spawn(args, log_file());
    entry_ = read_line(supervisor_.stdout_fd, 60s);
    ASSERT_EQ(entry_.rfind("http://127.0.0.1:", 0), 0u) << "no entry URL; log:\n" << log();
    reread_topology();
  }
  // The topology as the supervisor last wrote it (it rewrites it when it restarts a process).
  void reread_topology() {
    std::ifstream in{dir_.file("topology.json")};
    topology_ = json::parse(std::string{std::istreambuf_iterator<char>{in}, {}}).as_object();
  }
  void TearDown() override {
    if (supervisor_.pid > 0 && !reaped_) {
      ::kill(supervisor_.pid, SIGKILL);
      wait_exit(supervisor_.pid, 10s);
    }
    if (supervisor_.stdout_fd >= 0) ::close(supervisor_.stdout_fd);
  }
  std::string log_file() { return dir_.file("supervisor.log"); }
  std::string log() {
    std::ifstream in{log_file()};
    return std::string{std::istreambuf_iterator<char>{in}, {}};
  }
  std::vector<pid_t> child_pids() {
    std::vector<pid_t> pids;
    for (const auto& n : topology_["nodes"].as_array())
      pids.push_back(static_cast<pid_t>(n.at("pid").as_int64()));
    pids.push_back(static_cast<pid_t>(topology_["haproxy"].at("pid").as_int64()));
    pids.push_back(static_cast<pid_t>(topology_["payment_emulator"].at("pid").as_int64()));
    if (const auto* pid = topology_["database"].as_object().if_contains("pid")) {
      pids.push_back(static_cast<pid_t>(pid->as_int64()));  // PostgreSQL's postmaster (--db postgres)
    }
    return pids;
  }
  void stop_and_expect_nothing_left() {
    const auto pids = child_pids();
    ASSERT_EQ(::kill(supervisor_.pid, SIGTERM), 0);
    auto status = wait_exit(supervisor_.pid, 20s);
    ASSERT_TRUE(status.has_value()) << "supervisor did not exit";
    reaped_ = true;
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << log();
    for (pid_t pid : pids) EXPECT_TRUE(gone(pid)) << "left behind: pid " << pid;
  }

  temp_dir dir_;
  process supervisor_;
  bool reaped_ = false;
  std::string entry_;
  json::object topology_;
};

}  // namespace stampede::shop::testing
