// `stampede shop --autoscale rule` as real processes: a one-node shop under a short `stampede run` gets nodes
// added at run time (HAProxy's stats show them serving), and once the load stops they are drained and removed
// (gone from HAProxy, their processes reaped); orders placed all along are all in the audit. The event log
// (DIR/autoscale.jsonl) follows the contract of docs/SHOP.md, "Elastic scaling". Bounded to ~40 s.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "common/http_client.h"
#include "reference_shop/autoscale_metrics.h"
#include "reference_shop/haproxy_runtime.h"
#include "tests/reference_shop/shop_process_support.h"
#include "tests/support/sanitizers.h"

namespace stampede::shop::testing {
namespace {

// `stampede run SCRIPT --target URL`, stdout and stderr into `log`.
pid_t start_run(const std::string& script, const std::string& target, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execl(STAMPEDE_BINARY, STAMPEDE_BINARY, "run", script.c_str(), "--target", target.c_str(), "--quiet",
            "--threads", "1", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

std::vector<json::object> events(const std::string& path) {
  std::vector<json::object> out;
  std::ifstream in{path};
  std::string line;
  // A line being written may be read in part: only whole lines (ending in a newline) count.
  while (std::getline(in, line) && !in.eof()) out.push_back(json::parse(line).as_object());
  return out;
}

std::string text(const json::value& v) { return std::string{v.as_string()}; }

class autoscale_shop_test : public shop_process_test {
 protected:
  std::string log_path() { return text(topology_["autoscale"].at("log")); }
  // Index of the first event `name` of `node` in the log, or -1.
  int find_event(const std::vector<json::object>& log, const std::string& name, const std::string& node) {
    for (size_t i = 0; i < log.size(); ++i) {
      if (log[i].at("event") == name.c_str() && (node.empty() || log[i].at("node") == node.c_str())) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }
  std::optional<autoscale::backend_stat> haproxy_stat() {
    const auto answer =
        haproxy_runtime_command(port_of(text(topology_["haproxy"].at("runtime_api"))), "show stat", 2s);
    return answer ? autoscale::parse_show_stat(*answer, "nodes") : std::nullopt;
  }
};

TEST_F(autoscale_shop_test, load_adds_nodes_that_serve_and_its_end_drains_and_removes_them) {
  // Target 2 in flight per node: 32 closed-loop VUs hold several times that on one node on any machine, while
  // the 2 buyers alone (2 in flight at most) never need a second node and stay below the band (0.9 x 2 per
  // node) on two; short windows so the scale-in comes within seconds; latency does not scale (sanitizer
  // builds are slow).
  // clang-format off
  const std::vector<std::string> flags{
      "--nodes", "1", "--autoscale", "rule", "--max-nodes", "3", "--autoscale-target-in-flight", "2",
      "--autoscale-in-band", "0.9", "--autoscale-p99-ms", "0", "--autoscale-tick-ms", "500",
      "--autoscale-out-cooldown-ms", "1000", "--autoscale-stabilisation-ms", "3000",
      "--autoscale-in-cooldown-ms", "3000", "--autoscale-drain-ms", "5000",
      "--payment-latency-median-ms", "5", "--payment-latency-p99-ms", "20"};
  // clang-format on
  start(flags);
  if (HasFatalFailure()) return;
  const auto& config = topology_["autoscale"].as_object();
  EXPECT_EQ(config.at("mode"), "rule");
  EXPECT_EQ(config.at("min_nodes").as_int64(), 1);
  EXPECT_EQ(config.at("max_nodes").as_int64(), 3);
  EXPECT_EQ(log_path(), dir_.file("autoscale.jsonl"));
  const std::string admin = text(topology_["admin_token"]);
  const uint16_t entry = port_of(entry_);

  // Buyers place orders from before the load until the added nodes are gone: through scale-out and drain.
  constexpr int buyers = 2;
  std::vector<std::string> tokens;
  {
    http::blocking_client c{"127.0.0.1", entry};
    for (int i = 0; i < buyers; ++i) {
      const std::string email = "elastic" + std::to_string(i) + "@example.com";
      ASSERT_EQ(
          c.post_json("/api/users", R"({"email":")" + email + R"(","password":"password123","name":"E"})")
              .status,
          201);
      auto s = c.post_json("/api/sessions", R"({"email":")" + email + R"(","password":"password123"})");
      ASSERT_EQ(s.status, 200);
      tokens.push_back(text(json::parse(s.body).at("token")));
    }
  }
  std::mutex mutex;
  std::set<int64_t> acknowledged;
  std::atomic<bool> stop{false};
  std::atomic<int> unanswered{0};
  std::vector<std::thread> pool;
  for (int b = 0; b < buyers; ++b) {
    pool.emplace_back([&, b] {
      http::blocking_client c{"127.0.0.1", entry, 10s};
      for (int i = 0; !stop; ++i) {
        const std::string key = "e" + std::to_string(b) + "-" + std::to_string(i);
        bool answered = false;
        // Retries with the same Idempotency-Key until an answer: a lost answer is never a second order.
        for (int attempt = 0; attempt < 20 && !answered; ++attempt) {
          try {
            auto r = c.post_json(
                "/api/orders", R"({"items":[{"product_id":)" + std::to_string(10 + i % 50) + R"(,"qty":1}]})",
                {{"Authorization", "Bearer " + tokens[b]}, {"Idempotency-Key", key}});
            if (r.status == 201) {
              std::lock_guard lock{mutex};
              acknowledged.insert(json::parse(r.body).at("order_id").as_int64());
            }
            answered = r.status < 500;
          } catch (const std::exception&) {
            c.close();
          }
        }
        if (!answered) ++unanswered;
        std::this_thread::sleep_for(50ms);  // little in flight: the scale-in is not held back by the buyers
      }
    });
  }
  struct joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& pool;
    ~joiner() {
      stop = true;
      for (auto& t : pool) t.join();
    }
  } join_buyers{stop, pool};

  // 8 s of closed-loop catalogue reads from 32 VUs: several requests in flight at HAProxy all along.
  const std::string script = dir_.file("load.lua");
  {
    std::ofstream out{script};
    out << "options = { vus = 32, duration = '8s' }\n"
           "function default()\n"
           "  http.get('/api/products?page=' .. math.random(1, 20) .. '&size=50', { name = 'products' })\n"
           "end\n";
  }
  const pid_t run = start_run(script, entry_, dir_.file("run.log"));

  // A node is added, becomes ready and serves: in the event log and in HAProxy's stats.
  EXPECT_TRUE(
      eventually([&] { return find_event(events(log_path()), "node_first_request", "node2") >= 0; }, 20s))
      << log();
  int64_t served = 0;
  eventually(
      [&] {
        const auto stat = haproxy_stat();
        if (stat && stat->servers.contains("node2")) served = stat->servers.at("node2").total;
        return served > 0;
      },
      5s);
  EXPECT_GT(served, 0) << "HAProxy's stats show no request sent to node2";
  reread_topology();
  std::set<std::string> in_topology;
  for (const auto& n : topology_["nodes"].as_array()) in_topology.insert(text(n.at("name")));
  EXPECT_TRUE(in_topology.contains("node2"));

  const auto run_status = wait_exit(run, 40s);
  ASSERT_TRUE(run_status.has_value()) << "stampede run did not end";
  EXPECT_TRUE(WIFEXITED(*run_status) && WEXITSTATUS(*run_status) == 0);

  // The load is over: every added node is drained and removed (3 s below the band, then the drain).
  // --max-nodes 3: at most 2 added nodes at once. Over the run a node may be drained and removed and another
  // added later (a slow machine's load dips and rises: seen under TSan), so the bound is on the peak of nodes
  // alive together, not on how many were ever started.
  std::vector<std::string> added;
  int64_t alive = 0, peak = 0;
  for (const auto& e : events(log_path())) {
    if (e.at("event") == "node_started") {
      added.push_back(text(e.at("node")));
      peak = std::max(peak, ++alive);
    } else if (e.at("event") == "node_removed") {
      --alive;
    }
  }
  ASSERT_FALSE(added.empty());
  EXPECT_LE(peak, 2) << log();
  EXPECT_TRUE(eventually(
      [&] {
        const auto log = events(log_path());
        for (const auto& name : added) {
          if (find_event(log, "node_removed", name) < 0) return false;
        }
        return true;
      },
      25s))
      << log();
  stop = true;
  for (auto& t : pool) t.join();
  pool.clear();

  const auto log = events(log_path());
  std::map<std::string, pid_t> pids;
  for (const auto& e : log) {
    if (e.at("event") == "node_started")
      pids[text(e.at("node"))] = static_cast<pid_t>(e.at("pid").as_int64());
    EXPECT_TRUE(e.contains("t_unix_ms"));
  }
  for (const auto& name : added) {
    const int started = find_event(log, "node_started", name), ready = find_event(log, "node_ready", name),
              draining = find_event(log, "node_draining", name),
              removed = find_event(log, "node_removed", name);
    EXPECT_LT(started, ready) << name;
    EXPECT_LT(ready, draining) << name;
    EXPECT_LT(draining, removed) << name;
    EXPECT_GT(log[static_cast<size_t>(started)].at("port").as_int64(), 0);
  }
  const int out = find_event(log, "decision", ""), in = [&] {
    for (size_t i = 0; i < log.size(); ++i) {
      if (log[i].at("event") == "decision" && log[i].at("action") == "scale_in") return static_cast<int>(i);
    }
    return -1;
  }();
  ASSERT_GE(out, 0);
  EXPECT_EQ(log[static_cast<size_t>(out)].at("action"), "scale_out");
  EXPECT_EQ(log[static_cast<size_t>(out)].at("from").as_int64(), 1);
  EXPECT_GT(in, out);
  EXPECT_GT(find_event(log, "sample", ""), -1);
  EXPECT_TRUE(log[static_cast<size_t>(find_event(log, "sample", ""))].contains("in_flight_per_node"));

  // Gone from HAProxy and from the machine; node1 still serves.
  const auto stat = haproxy_stat();
  ASSERT_TRUE(stat.has_value());
  for (const auto& name : added) EXPECT_FALSE(stat->servers.contains(name)) << name;
  for (const auto& [name, pid] : pids) EXPECT_TRUE(eventually([&] { return gone(pid); }, 10s)) << name;
  reread_topology();
  ASSERT_EQ(topology_["nodes"].as_array().size(), 1u);
  EXPECT_EQ(topology_["nodes"].at(0).at("name"), "node1");

  // No acknowledged order lost while nodes came and went.
  EXPECT_EQ(unanswered, 0);
  ASSERT_FALSE(acknowledged.empty());
  http::blocking_client c{"127.0.0.1", entry, 10s};
  auto r = c.request("GET", "/api/admin/audit", {}, {{"Authorization", "Bearer " + admin}});
  ASSERT_EQ(r.status, 200);
  std::set<int64_t> audited;
  const json::value audit = json::parse(r.body);
  for (const auto& o : audit.at("orders").as_array()) audited.insert(o.at("order_id").as_int64());
  for (int64_t id : acknowledged) EXPECT_TRUE(audited.contains(id)) << "acknowledged order " << id << " lost";
  EXPECT_EQ(audited.size(), acknowledged.size());  // nothing from nowhere, no duplicates
  stop_and_expect_nothing_left();
}

// A trickle of requests and a p99 threshold nobody meets: one node more each out-cooldown, up to --max-nodes.
class trickle {
 public:
  explicit trickle(uint16_t port)
      : thread_([this, port] {
          http::blocking_client c{"127.0.0.1", port, 5s};
          while (!stop_) {
            try {
              c.get("/api/products/1");
            } catch (const std::exception&) {
              c.close();
            }
            std::this_thread::sleep_for(20ms);
          }
        }) {}
  ~trickle() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// clang-format off
const std::vector<std::string> p99_scaling{
    "--nodes", "1", "--autoscale", "rule", "--max-nodes", "2", "--autoscale-p99-ms", "0.001",
    "--autoscale-tick-ms", "200", "--autoscale-out-cooldown-ms", "500"};
// clang-format on

TEST_F(autoscale_shop_test, an_added_node_that_dies_is_respawned_and_haproxy_restarts_with_it) {
  auto flags = p99_scaling;
  flags.insert(flags.end(), {"--respawn-ms", "200"});
  start(flags);
  if (HasFatalFailure()) return;
  trickle load{port_of(entry_)};
  ASSERT_TRUE(eventually([&] { return find_event(events(log_path()), "node_ready", "node2") >= 0; }, 15s))
      << log();
  const auto started =
      events(log_path())[static_cast<size_t>(find_event(events(log_path()), "node_started", "node2"))];
  const auto pid = static_cast<pid_t>(started.at("pid").as_int64());
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  // Respawned on its port like any node; HAProxy's server for it comes back UP; it stays in the pool.
  EXPECT_TRUE(eventually(
      [&] {
        reread_topology();
        for (const auto& n : topology_["nodes"].as_array()) {
          if (n.at("name") == "node2" && n.at("pid").as_int64() != pid) return true;
        }
        return false;
      },
      10s))
      << log();
  EXPECT_TRUE(eventually(
      [&] { return server_state(text(topology_["haproxy"].at("runtime_api")), "node2") == 2; }, 10s));
  // HAProxy SIGKILLed: restarted with the configuration the pool left, node2 included.
  const auto haproxy = static_cast<pid_t>(topology_["haproxy"].at("pid").as_int64());
  ASSERT_EQ(::kill(haproxy, SIGKILL), 0);
  EXPECT_TRUE(eventually(
      [&] {
        reread_topology();
        return topology_["haproxy"].at("pid").as_int64() != haproxy;
      },
      15s))
      << log();
  EXPECT_TRUE(eventually(
      [&] { return server_state(text(topology_["haproxy"].at("runtime_api")), "node2") == 2; }, 10s))
      << log();
  const auto log_now = events(log_path());
  EXPECT_EQ(find_event(log_now, "node_removed", ""), -1);
  EXPECT_EQ(find_event(log_now, "node_started", "node3"), -1);  // --max-nodes 2
  reread_topology();
  stop_and_expect_nothing_left();
}

TEST_F(autoscale_shop_test,
       an_added_node_that_dies_without_respawn_leaves_the_pool_and_its_name_is_not_reused) {
  start(p99_scaling);
  if (HasFatalFailure()) return;
  trickle load{port_of(entry_)};
  ASSERT_TRUE(eventually([&] { return find_event(events(log_path()), "node_ready", "node2") >= 0; }, 15s))
      << log();
  const auto log_then = events(log_path());
  const auto pid = static_cast<pid_t>(
      log_then[static_cast<size_t>(find_event(log_then, "node_started", "node2"))].at("pid").as_int64());
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  // Dropped from the pool and from HAProxy; the engine replaces the capacity with node3, not a new node2.
  EXPECT_TRUE(eventually([&] { return find_event(events(log_path()), "node_ready", "node3") >= 0; }, 15s))
      << log();
  const auto log_now = events(log_path());
  const int removed = find_event(log_now, "node_removed", "node2");
  ASSERT_GE(removed, 0);
  EXPECT_EQ(log_now[static_cast<size_t>(removed)].at("reason"), "died");
  EXPECT_LT(removed, find_event(log_now, "node_started", "node3"));
  int node2_started = 0;
  for (const auto& e : log_now) node2_started += e.at("event") == "node_started" && e.at("node") == "node2";
  EXPECT_EQ(node2_started, 1);
  EXPECT_EQ(server_state(text(topology_["haproxy"].at("runtime_api")), "node2"), -1);  // no such server
  reread_topology();
  std::set<std::string> names;
  for (const auto& n : topology_["nodes"].as_array()) names.insert(text(n.at("name")));
  EXPECT_EQ(names, (std::set<std::string>{"node1", "node3"}));
  stop_and_expect_nothing_left();
}

// The pid of the supervisor's child running `shop-node --name NAME` (after exec), or -1.
pid_t node_process(pid_t supervisor, const std::string& name) {
  for (const auto& entry : std::filesystem::directory_iterator{"/proc"}) {
    const std::string pid = entry.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat{entry.path() / "stat"};
    std::string line;
    if (!std::getline(stat, line) || line.rfind(')') == std::string::npos) continue;
    std::istringstream fields{line.substr(line.rfind(')') + 2)};
    std::string state;
    pid_t parent = 0;
    fields >> state >> parent;
    if (parent != supervisor) continue;
    std::ifstream in{entry.path() / "cmdline"};
    std::string cmdline{std::istreambuf_iterator<char>{in}, {}};
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(" shop-node ") != std::string::npos &&
        cmdline.find(" --name " + name + " ") != std::string::npos) {
      return static_cast<pid_t>(std::stol(pid));
    }
  }
  return -1;
}

char process_state(pid_t pid) {
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(stat, line) || line.rfind(')') == std::string::npos) return '?';
  return line[line.rfind(')') + 2];
}

TEST_F(autoscale_shop_test, a_node_still_starting_holds_back_neither_haproxy_restarts_nor_the_stop) {
  start(p99_scaling);
  if (HasFatalFailure()) return;
  trickle load{port_of(entry_)};
  // node2 paused as soon as it runs shop-node: it never reports its port (the supervisor must not wait).
  pid_t node2 = -1;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (node2 < 0 && std::chrono::steady_clock::now() < deadline) {
    node2 = node_process(supervisor_.pid, "node2");
    if (node2 < 0) std::this_thread::sleep_for(1ms);  // catching it within its start-up
  }
  ASSERT_GT(node2, 0) << log();
  ASSERT_EQ(::kill(node2, SIGSTOP), 0);
  ASSERT_TRUE(eventually([&] { return process_state(node2) == 'T'; }, 5s));
  if (find_event(events(log_path()), "node_started", "node2") >= 0) {
    GTEST_SKIP() << "node2 reported its port before it was paused";
  }
  // Ticks go on while it starts: counted as a node, not a ready one (and no third node: --max-nodes 2).
  const size_t samples_before = events(log_path()).size();
  ASSERT_TRUE(eventually([&] { return events(log_path()).size() >= samples_before + 3; }, 10s)) << log();
  const auto sample = events(log_path()).back();
  EXPECT_EQ(sample.at("event"), "sample");
  EXPECT_EQ(sample.at("nodes").as_int64(), 2);
  EXPECT_EQ(sample.at("ready_nodes").as_int64(), 1);
  // HAProxy SIGKILLed: restarted (its restart takes a back-off of 100 ms and its start), not after node2's
  // 30 s start-up bound.
  const auto haproxy = static_cast<pid_t>(topology_["haproxy"].at("pid").as_int64());
  ASSERT_EQ(::kill(haproxy, SIGKILL), 0);
  EXPECT_TRUE(eventually(
      [&] {
        reread_topology();
        return topology_["haproxy"].at("pid").as_int64() != haproxy;
      },
      10s))
      << log();
  EXPECT_TRUE(eventually(
      [&] { return server_state(text(topology_["haproxy"].at("runtime_api")), "node1") == 2; }, 10s));
  EXPECT_EQ(find_event(events(log_path()), "node_started", "node2"), -1);
  // SIGTERM: the shop stops (node2 killed, not waited for the 10 s stop bound) and leaves nothing.
  const auto pids = child_pids();
  const auto stop_began = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(supervisor_.pid, SIGTERM), 0);
  const auto status = wait_exit(supervisor_.pid, 20s);
  ASSERT_TRUE(status.has_value()) << "supervisor did not exit";
  reaped_ = true;
  EXPECT_LT(std::chrono::steady_clock::now() - stop_began, 8s) << log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << log();
  EXPECT_EQ(log().find("did not stop, killing it"), std::string::npos) << log();
  for (pid_t pid : pids) EXPECT_TRUE(gone(pid)) << "left behind: pid " << pid;
  EXPECT_TRUE(gone(node2));
}

// --respawn-ms (no autoscaler needed): a respawned node paused before it reports its port does not hold the
// loop either (the topology, rewritten by HAProxy's restart, still names the old pid); once resumed it is
// reported respawned, named in the topology and serves.
TEST_F(autoscale_shop_test, a_respawned_node_still_starting_does_not_hold_back_haproxy_restarts) {
  start({"--nodes", "2", "--respawn-ms", "0"});
  if (HasFatalFailure()) return;
  const auto old_node2 = static_cast<pid_t>(topology_["nodes"].as_array()[1].at("pid").as_int64());
  ASSERT_EQ(::kill(old_node2, SIGKILL), 0);
  pid_t node2 = -1;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while ((node2 < 0 || node2 == old_node2) && std::chrono::steady_clock::now() < deadline) {
    node2 = node_process(supervisor_.pid, "node2");
    if (node2 < 0 || node2 == old_node2) std::this_thread::sleep_for(1ms);  // catching it within its start-up
  }
  ASSERT_GT(node2, 0) << log();
  ASSERT_NE(node2, old_node2);
  ASSERT_EQ(::kill(node2, SIGSTOP), 0);
  ASSERT_TRUE(eventually([&] { return process_state(node2) == 'T'; }, 5s));
  if (log().find("node node2 respawned") != std::string::npos) {
    GTEST_SKIP() << "node2 reported its port before it was paused";
  }
  const auto haproxy = static_cast<pid_t>(topology_["haproxy"].at("pid").as_int64());
  ASSERT_EQ(::kill(haproxy, SIGKILL), 0);
  EXPECT_TRUE(eventually(
      [&] {
        reread_topology();
        return topology_["haproxy"].at("pid").as_int64() != haproxy;
      },
      10s))
      << log();
  EXPECT_EQ(log().find("node node2 respawned"), std::string::npos);             // not ready yet
  EXPECT_EQ(topology_["nodes"].as_array()[1].at("pid").as_int64(), old_node2);  // named once ready
  ASSERT_EQ(::kill(node2, SIGCONT), 0);
  EXPECT_TRUE(eventually([&] { return log().find("node node2 respawned") != std::string::npos; }, 15s))
      << log();
  // The topology file can be rewritten after the log line (two files, written in turn): await it.
  EXPECT_TRUE(eventually(
      [&] {
        reread_topology();
        return topology_["nodes"].as_array()[1].at("pid").as_int64() == node2;
      },
      5s))
      << "topology names pid " << topology_["nodes"].as_array()[1].at("pid").as_int64() << ", node2 is "
      << node2;
  EXPECT_TRUE(eventually(
      [&] { return server_state(text(topology_["haproxy"].at("runtime_api")), "node2") == 2; }, 10s));
  stop_and_expect_nothing_left();
}

// Like a cloud autoscaling group replacing unhealthy capacity: an initial node that died (no --respawn-ms)
// is no capacity; below --min-nodes the engine starts a replacement (node3), the dead one stays DOWN.
TEST_F(autoscale_shop_test, a_dead_initial_node_without_respawn_is_replaced_by_a_new_node) {
  start({"--nodes", "2", "--autoscale", "rule", "--min-nodes", "2", "--max-nodes", "3", "--autoscale-p99-ms",
         "0", "--autoscale-tick-ms", "200", "--autoscale-stabilisation-ms", "60000"});
  if (HasFatalFailure()) return;
  pid_t node1 = -1;
  for (const auto& n : topology_["nodes"].as_array()) {
    if (n.at("name") == "node1") node1 = static_cast<pid_t>(n.at("pid").as_int64());
  }
  ASSERT_GT(node1, 0);
  ASSERT_EQ(::kill(node1, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return find_event(events(log_path()), "node_ready", "node3") >= 0; }, 15s))
      << log();
  const auto log_now = events(log_path());
  const int decided = find_event(log_now, "decision", "");
  ASSERT_GE(decided, 0);
  EXPECT_EQ(log_now[static_cast<size_t>(decided)].at("action"), "scale_out");
  EXPECT_EQ(log_now[static_cast<size_t>(decided)].at("from").as_int64(), 1);
  EXPECT_EQ(log_now[static_cast<size_t>(decided)].at("to").as_int64(), 2);
  EXPECT_EQ(log_now[static_cast<size_t>(decided)].at("reason"), "below --min-nodes");
  EXPECT_EQ(find_event(log_now, "node_removed", ""), -1);  // an initial node is not removed: it stays DOWN
  const std::string runtime = text(topology_["haproxy"].at("runtime_api"));
  EXPECT_TRUE(eventually([&] { return server_state(runtime, "node1") == 0; }, 10s));  // DOWN (stopped)
  EXPECT_EQ(server_state(runtime, "node3"), 2);
  // Two live nodes again: no further decision (--max-nodes 3 left room for one).
  std::this_thread::sleep_for(1s);  // a few ticks
  int decisions = 0;
  for (const auto& e : events(log_path())) decisions += e.at("event") == "decision";
  EXPECT_EQ(decisions, 1);
  reread_topology();
  auto pids = child_pids();
  std::erase(pids, node1);
  ASSERT_EQ(::kill(supervisor_.pid, SIGTERM), 0);
  const auto status = wait_exit(supervisor_.pid, 20s);
  ASSERT_TRUE(status.has_value());
  reaped_ = true;
  for (pid_t pid : pids) EXPECT_TRUE(gone(pid)) << "left behind: pid " << pid;
}

// --weights has no value for a node added at run time: refused, naming both flags. (The fault-proxy flags
// route the initial nodes and are accepted: the autoscale game day's drill passes --node-via.)
TEST_F(autoscale_shop_test, per_node_weights_are_refused_with_autoscale) {
  for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{{"--weights", "1,2"}}) {
    const std::string err = dir_.file("refused.log");
    std::filesystem::remove(err);
    auto p = spawn({"shop", "--port", "0", "--data", dir_.path().string(), "--nodes", "2", "--autoscale",
                    "rule", flag, value},
                   err);
    const auto status = wait_exit(p.pid, 20s);
    ::close(p.stdout_fd);
    ASSERT_TRUE(status.has_value()) << flag;
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << flag;
    std::ifstream in{err};
    const std::string message{std::istreambuf_iterator<char>{in}, {}};
    EXPECT_NE(
        message.find(flag + " gives one value per initial node and cannot be used with --autoscale rule"),
        std::string::npos)
        << message;
  }
}

TEST_F(autoscale_shop_test, an_idle_autoscaled_shop_samples_and_decides_nothing) {
  start({"--nodes", "2", "--autoscale", "predictive", "--min-nodes", "1", "--autoscale-tick-ms", "200",
         "--autoscale-stabilisation-ms", "60000"});
  if (HasFatalFailure()) return;
  EXPECT_TRUE(eventually([&] { return events(log_path()).size() >= 5; }, 10s));
  for (const auto& e : events(log_path())) {
    EXPECT_EQ(e.at("event"), "sample") << json::serialize(e);
    EXPECT_EQ(e.at("nodes").as_int64(), 2);
    EXPECT_EQ(e.at("ready_nodes").as_int64(), 2);
    EXPECT_TRUE(e.contains("forecast_rate_per_s"));
  }
  stop_and_expect_nothing_left();
}

TEST_F(autoscale_shop_test, without_autoscale_no_event_log_and_no_topology_entry) {
  start({"--nodes", "1"});
  if (HasFatalFailure()) return;
  EXPECT_FALSE(topology_.contains("autoscale"));
  EXPECT_FALSE(std::filesystem::exists(dir_.file("autoscale.jsonl")));
  stop_and_expect_nothing_left();
}

}  // namespace
}  // namespace stampede::shop::testing
