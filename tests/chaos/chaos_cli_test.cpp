// `stampede proxy` as a process (proxy_test_cli: the same proxy_command without the other components):
// --max-connections reaches every proxy (and the API shows it), bad values exit 2 naming the flag, a
// --config proxy that would loop exits 1, SIGTERM stops it with 0. Every child is bounded in time.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "chaos_test_support.h"
#include "common/http_client.h"

extern char** environ;

namespace stampede::chaos {
namespace {

using namespace testing;

// A `stampede proxy` child with its stdout and stderr on a pipe; killed if still running at the end.
class proxy_process {
 public:
  explicit proxy_process(std::vector<std::string> args) {
    args.insert(args.begin(), {STAMPEDE_BINARY, "proxy"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    out_ = fd_guard(fds[0]);
    if (rc != 0) throw std::runtime_error("posix_spawn failed");
  }
  ~proxy_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  // Output read until `text` appears (true) or the child closes its output or the deadline passes.
  bool wait_for(std::string_view text, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = steady::now() + timeout;
    char buf[4096];
    while (output_.find(text) == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
      if (left <= 0) return false;
      pollfd p{out_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      const ssize_t n = ::read(out_.get(), buf, sizeof buf);
      if (n <= 0) return output_.find(text) != std::string::npos;
      output_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  // The exit code, waiting at most `timeout` (-1: killed at the deadline or by a signal).
  int exit_code(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = steady::now() + timeout;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (steady::now() > deadline) return -1;  // the destructor kills it
      std::this_thread::sleep_for(10ms);        // waiting for a child process
    }
    pid_ = -1;
    wait_for("\x01", 100ms);  // collect what is left of the output
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  void signal(int sig) { ::kill(pid_, sig); }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  fd_guard out_;
  std::string output_;
};

std::string write_config(const std::string& json) {
  char path[] = "/tmp/stampede-proxy-config-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp");
  ::close(fd);
  std::ofstream(path) << json;
  return path;
}

TEST(proxy_cli, max_connections_reaches_every_proxy_and_sigterm_stops_with_zero) {
  tcp_server echo(echo_handler);
  const std::string config =
      write_config(R"([{"name":"db","listen":"127.0.0.1:0","upstream":")" + echo.address() + R"("}])");
  proxy_process proxy({"--listen", "127.0.0.1:0", "--max-connections", "2", "--config", config});
  ASSERT_TRUE(proxy.wait_for("API on 127.0.0.1:")) << proxy.output();
  ASSERT_TRUE(proxy.wait_for(")\n")) << proxy.output();
  const std::string& out = proxy.output();
  const size_t at = out.find("API on 127.0.0.1:") + 17;
  const auto api_port = static_cast<uint16_t>(std::stoi(out.substr(at)));
  const size_t listen_at = out.find("proxy db: 127.0.0.1:") + 20;
  const auto proxy_port = static_cast<uint16_t>(std::stoi(out.substr(listen_at)));

  http::blocking_client client("127.0.0.1", api_port, std::chrono::milliseconds(3000));
  EXPECT_NE(client.get("/proxies/db").body.find(R"("max_connections":2)"), std::string::npos);
  auto one = connect_to(proxy_port), two = connect_to(proxy_port);
  for (int fd : {one.get(), two.get()}) {
    ASSERT_TRUE(send_all(fd, "x"));
    ASSERT_EQ(read_until(fd, 1, 2s).data, "x");
  }
  auto three = connect_to(proxy_port);
  EXPECT_NE(wait_closed(three.get(), 2s), read_end::timeout);
  EXPECT_NE(client.get("/metrics").body.find("stampede_proxy_connections_rejected_total{proxy=\"db\"} 1\n"),
            std::string::npos);
  EXPECT_TRUE(proxy.wait_for("max_connections 2 reached")) << proxy.output();  // said once on stderr

  proxy.signal(SIGTERM);
  EXPECT_EQ(proxy.exit_code(), 0) << proxy.output();
  ::unlink(config.c_str());
}

TEST(proxy_cli, bad_max_connections_exits_2_naming_the_flag) {
  for (const char* value : {"0", "abc", "1000001", "-5"}) {
    proxy_process proxy({"--listen", "127.0.0.1:0", "--max-connections", value});
    EXPECT_EQ(proxy.exit_code(), 2) << value;
    EXPECT_NE(proxy.output().find("--max-connections must be 1..1000000"), std::string::npos)
        << proxy.output();
  }
}

TEST(proxy_cli, a_config_proxy_that_would_loop_exits_1_and_says_why) {
  fd_guard holder(::socket(AF_INET, SOCK_STREAM, 0));  // a port nobody else takes; the proxy may bind it too
  int one = 1;
  ::setsockopt(holder.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(holder.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(holder.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string self = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const std::string config =
      write_config(R"([{"name":"self","listen":")" + self + R"(","upstream":")" + self + R"("}])");
  proxy_process proxy({"--listen", "127.0.0.1:0", "--config", config});
  EXPECT_EQ(proxy.exit_code(), 1) << proxy.output();
  EXPECT_NE(proxy.output().find("proxy 'self' would loop"), std::string::npos) << proxy.output();
  ::unlink(config.c_str());
}

}  // namespace
}  // namespace stampede::chaos
