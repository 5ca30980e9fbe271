// The live dashboard does not hold up the run: clients that connect to `stampede run --dashboard` and never
// read, more than the server takes (16), some asking for the page and the events pipelined, some silent;
// every second of the load still has its requests and the run ends in time with exit 0. And a bad or busy
// --dashboard address is a usage error.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/dashboard/dashboard_run.h"

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using stampede::testing::read_text;

const std::string binary = STAMPEDE_BINARY;

// A connection that asks and never reads, with a receive buffer as small as the kernel allows (set before
// connecting, so the window it offers stays small). Closed on destruction.
class stalled_client {
 public:
  stalled_client(uint16_t port, std::string_view request)
      : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    int small = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && !request.empty())
      (void)::send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
  }
  ~stalled_client() { ::close(fd_); }
  stalled_client(const stalled_client&) = delete;
  stalled_client& operator=(const stalled_client&) = delete;

 private:
  int fd_;
};

TEST(dashboard_e2e, clients_that_never_read_do_not_stall_the_run) {
  stampede::testing::dashboard_run run(binary);
  ASSERT_GT(run.pid, 0);
  ASSERT_GT(run.port, 0) << run.log();
  std::vector<std::unique_ptr<stalled_client>> clients;
  // More than the server's 16 connections: pipelined requests for the page and the events, and silence.
  const std::string asks =
      "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /events HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /events HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < 24; ++i)
    clients.push_back(std::make_unique<stalled_client>(run.port, i % 3 == 2 ? "" : asks));
  EXPECT_EQ(run.wait(), 0) << run.log();
  const json::object results = json::parse(read_text(run.dir.path() / "results.json")).as_object();
  const json::array& seconds = results.at("timeseries").as_array();
  ASSERT_GE(seconds.size(), static_cast<size_t>(stampede::testing::load_seconds));
  for (size_t i = 0; i < static_cast<size_t>(stampede::testing::load_seconds); ++i)
    EXPECT_GT(seconds[i].at("requests").to_number<int64_t>(), 0) << "second " << i;
  EXPECT_LT(results.at("meta").at("duration_s").to_number<double>(), stampede::testing::load_seconds + 1.0);
}

}  // namespace

namespace {

// A --dashboard that cannot be served is a usage error naming the flag, before the script runs.
TEST(dashboard_cli, a_bad_or_busy_address_is_a_usage_error_naming_the_flag) {
  stampede::testing::temp_dir dir("stampede-dashboard-cli");
  {
    std::ofstream(dir.path() / "s.lua") << "options = { vus = 1, iterations = 1 }\nfunction default() end\n";
  }
  const auto run = [&](const std::string& address) {
    const int code = stampede::testing::run_bounded(
        {binary, "run", (dir.path() / "s.lua").string(), "--dashboard", address, "-q"},
        dir.path() / "cli.log", 30s);
    return std::pair{code, read_text(dir.path() / "cli.log")};
  };
  auto [code, log] = run("localhost:8089");
  EXPECT_EQ(code, 2);
  EXPECT_NE(log.find("--dashboard 'localhost:8089' needs an IP address"), std::string::npos) << log;

  stampede::testing::test_server busy;  // its port is taken
  const std::string taken = busy.base_url().substr(std::string("http://").size());
  std::tie(code, log) = run(taken);
  EXPECT_EQ(code, 2);
  EXPECT_NE(log.find("--dashboard " + taken + ": cannot listen"), std::string::npos) << log;
}

}  // namespace
