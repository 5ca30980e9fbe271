// Multi-process tests of `stampede shop`: the supervisor starts HAProxy, nodes and the payment emulator,
// writes the topology, and leaves no process behind; a node SIGKILLed in the middle of checkouts and
// payments loses no acknowledged order, captures nothing twice, and HAProxy takes it out and back in.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "common/http_client.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

struct process {
  pid_t pid = -1;
  int stdout_fd = -1;
};

// Starts the stampede binary with `args`; stdout is a pipe, stderr goes to `stderr_file`.
process spawn(std::vector<std::string> args, const std::string& stderr_file,
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

std::string read_line(int fd, std::chrono::milliseconds timeout) {
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

std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  std::optional<int> result;
  testing::eventually(
      [&] {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) result = status;
        return result.has_value();
      },
      timeout);
  return result;
}

bool gone(pid_t pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

uint16_t port_of(const std::string& url) { return static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1))); }

// HAProxy runtime API: the operational state of `server` in backend nodes (2 = up, 0 = down).
int server_state(const std::string& runtime, const std::string& server) {
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
    for (const auto& n : topology_["nodes"].as_array()) pids.push_back(static_cast<pid_t>(n.at("pid").as_int64()));
    pids.push_back(static_cast<pid_t>(topology_["haproxy"].at("pid").as_int64()));
    pids.push_back(static_cast<pid_t>(topology_["payment_emulator"].at("pid").as_int64()));
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

  testing::temp_dir dir_;
  process supervisor_;
  bool reaped_ = false;
  std::string entry_;
  json::object topology_;
};

TEST_F(shop_process_test, starts_serves_and_leaves_nothing_behind) {
  start({"--nodes", "2", "--threads", "1", "--lb", "leastconn"});
  EXPECT_EQ(topology_["nodes"].as_array().size(), 2u);
  EXPECT_EQ(topology_["entry_url"].as_string(), entry_);
  for (pid_t pid : child_pids()) EXPECT_FALSE(gone(pid));
  http::blocking_client client{"127.0.0.1", port_of(entry_)};
  std::set<std::string> served_by;
  for (int i = 0; i < 6; ++i) {
    auto r = client.get("/healthz");
    ASSERT_EQ(r.status, 200);
    served_by.insert(std::string{json::parse(r.body).at("node").as_string()});
  }
  EXPECT_EQ(client.get("/api/products/1").status, 200);
  // HAProxy's own Prometheus exporter is on loopback too.
  const std::string metrics = std::string{topology_["haproxy"].at("metrics_url").as_string()};
  http::blocking_client hp{"127.0.0.1", port_of(metrics.substr(0, metrics.rfind('/')))};
  auto m = hp.get("/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("haproxy_backend"), std::string::npos);
  EXPECT_EQ(server_state(std::string{topology_["haproxy"].at("runtime_api").as_string()}, "node1"), 2);
  stop_and_expect_nothing_left();
}

TEST_F(shop_process_test, sigkill_of_a_node_loses_no_acknowledged_order) {
  start({"--nodes", "3", "--threads", "2", "--lease-ms", "1000", "--payment-latency-median-ms", "20",
         "--payment-latency-p99-ms", "100"});
  const std::string runtime{topology_["haproxy"].at("runtime_api").as_string()};
  const std::string admin{topology_["admin_token"].as_string()};
  const uint16_t entry = port_of(entry_);
  constexpr int buyers = 4, orders_each = 25;
  std::vector<std::string> tokens;
  {
    http::blocking_client c{"127.0.0.1", entry};
    for (int i = 0; i < buyers; ++i) {
      const std::string email = "kill" + std::to_string(i) + "@example.com";
      ASSERT_EQ(c.post_json("/api/users", R"({"email":")" + email + R"(","password":"password123","name":"K"})").status, 201);
      auto s = c.post_json("/api/sessions", R"({"email":")" + email + R"(","password":"password123"})");
      ASSERT_EQ(s.status, 200);
      tokens.push_back(std::string{json::parse(s.body).at("token").as_string()});
    }
  }
  std::mutex mutex;
  std::set<int64_t> acknowledged;
  std::atomic<int> progress{0};
  std::vector<std::thread> pool;
  for (int b = 0; b < buyers; ++b) {
    pool.emplace_back([&, b] {
      http::blocking_client c{"127.0.0.1", entry, 5s};
      for (int i = 0; i < orders_each; ++i) {
        const std::string key = "b" + std::to_string(b) + "-" + std::to_string(i);
        // A client that retries with the same Idempotency-Key until it gets an answer.
        for (int attempt = 0; attempt < 20; ++attempt) {
          try {
            auto r = c.post_json("/api/orders", R"({"items":[{"product_id":)" + std::to_string(10 + i) + R"(,"qty":1}]})",
                                 {{"Authorization", "Bearer " + tokens[b]}, {"Idempotency-Key", key}});
            if (r.status == 201) {
              std::lock_guard lock{mutex};
              acknowledged.insert(json::parse(r.body).at("order_id").as_int64());
              break;
            }
          } catch (const std::exception&) {
            c.close();
          }
        }
        ++progress;
      }
    });
  }
  ASSERT_TRUE(testing::eventually([&] { return progress >= buyers * orders_each / 3; }, 30s));
  const pid_t victim = static_cast<pid_t>(topology_["nodes"].at(1).at("pid").as_int64());
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  for (auto& t : pool) t.join();
  EXPECT_EQ(acknowledged.size(), static_cast<size_t>(buyers * orders_each));
  // HAProxy takes the dead node out ...
  EXPECT_TRUE(testing::eventually([&] { return server_state(runtime, "node2") == 0; }, 10s));
  EXPECT_TRUE(testing::eventually([&] { return log().find("node2") != std::string::npos; }, 5s)) << log();
  EXPECT_NE(log().find("killed by signal 9"), std::string::npos) << log();
  // ... and back in when a node answers on its address again.
  const auto& node2 = topology_["nodes"].at(1).as_object();
  process replacement = spawn({"shop-node", "--db", std::string{topology_["database"].as_string()}, "--name", "node2",
                               "--port", std::to_string(node2.at("port").as_int64()), "--kdf", "minimal", "--payment",
                               "127.0.0.1:" + std::to_string(port_of(std::string{topology_["payment_emulator"].at("url").as_string()}))},
                              dir_.file("replacement.log"), {{"STAMPEDE_SHOP_ADMIN_TOKEN", admin}});
  EXPECT_TRUE(testing::eventually([&] { return server_state(runtime, "node2") == 2; }, 15s));
  // Every message is settled by the surviving workers (expired leases included).
  http::blocking_client c{"127.0.0.1", entry, 10s};
  json::object audit;
  ASSERT_TRUE(testing::eventually(
      [&] {
        auto r = c.request("GET", "/api/admin/audit", {}, {{"Authorization", "Bearer " + admin}});
        if (r.status != 200) return false;
        audit = json::parse(r.body).as_object();
        return audit["outbox"].at("pending").as_int64() == 0 && audit["outbox"].at("in_flight").as_int64() == 0;
      },
      30s));
  std::map<int64_t, json::object> orders;
  for (const auto& o : audit["orders"].as_array()) orders[o.at("order_id").as_int64()] = o.as_object();
  int64_t paid_total = 0;
  for (int64_t id : acknowledged) {
    ASSERT_TRUE(orders.count(id)) << "acknowledged order " << id << " lost";
    EXPECT_EQ(orders[id].at("status").as_string(), "paid");
    EXPECT_EQ(orders[id].at("captured").as_int64(), orders[id].at("total").as_int64());
    paid_total += orders[id].at("total").as_int64();
  }
  EXPECT_EQ(orders.size(), acknowledged.size());  // nothing appeared from nowhere, no duplicates
  http::blocking_client pe{"127.0.0.1", port_of(std::string{topology_["payment_emulator"].at("url").as_string()})};
  auto caps = json::parse(pe.get("/v1/captures").body).as_object();
  EXPECT_EQ(caps["captures"].as_array().size(), acknowledged.size());  // one capture per order, never two
  EXPECT_EQ(caps["totals"].at("captured").as_int64(), paid_total);
  EXPECT_EQ(audit["outbox"].at("dead").as_int64(), 0);
  ::kill(replacement.pid, SIGINT);
  EXPECT_TRUE(wait_exit(replacement.pid, 10s).has_value());
  ::close(replacement.stdout_fd);
  stop_and_expect_nothing_left();
}

}  // namespace
}  // namespace stampede::shop
