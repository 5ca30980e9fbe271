// `stampede drill --target URL --topology FILE` end to end, against a small shop that is not the reference
// shop (tests/drill/own_system/own_shop.py, /usr/bin/python3 + sqlite3): a front and a ledger, the front
// reaching the ledger through the link the drill proxies. The topology names the front by pid file (killed
// by signal, brought back by its restart command) and the ledger by commands (paused and resumed by them).
// A correct front passes; a front that acknowledges orders before they are durable loses some when it is
// killed, and the drill exits 98 naming them. Also: Ctrl-C during setup() writes results (exit 105), and
// a drill killed by SIGKILL mid-pause does not leave the node stopped. Every child is bounded in time.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/http_client.h"
#include "common/loopback.h"
#include "tests/support/child_process.h"
#include "tests/support/drill_process.h"

namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string python = "/usr/bin/python3";
const std::string own_shop_py = STAMPEDE_SOURCE_DIR "/tests/drill/own_system/own_shop.py";
const std::string scenarios = STAMPEDE_SOURCE_DIR "/tests/drill/scenarios";

using stampede::testing::eventually;
using stampede::testing::read_text;
using stampede::testing::temp_dir;
using stampede::testing::wait_bounded;

// Children write into their log in append mode and see SIGINT/SIGTERM as in a terminal (the Ctrl-C tests).
pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  return stampede::testing::spawn(args, log, {.append = true, .default_signals = true, .env = {}});
}

char state_of(pid_t pid) { return stampede::testing::process_state(pid); }

pid_t pid_in(const fs::path& file) {
  std::ifstream in(file);
  long v = 0;
  return in >> v ? static_cast<pid_t>(v) : 0;
}

bool healthy(uint16_t port) {
  try {
    stampede::http::blocking_client c("127.0.0.1", port, 1s);
    return c.request("GET", "/healthz").status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

// The shop under test, its topology, and cleanup of every process it ever ran (also the restarted front).
class own_shop {
 public:
  own_shop(const fs::path& dir, const std::string& mode) : dir_(dir) {
    ledger_child_ = spawn({python, own_shop_py, "ledger", "--db", (dir / "ledger.db").string(), "--port-file",
                           (dir / "ledger.port").string(), "--pid-file", (dir / "ledger.pid").string()},
                          dir / "ledger.log");
    if (!eventually([&] { return fs::exists(dir / "ledger.port"); }, 15s)) throw std::runtime_error("ledger did not start");
    ledger_port_ = static_cast<uint16_t>(std::stoi(read_text(dir / "ledger.port")));
    link_port_ = stampede::free_loopback_port();
    front_port_ = stampede::free_loopback_port();
    const std::vector<std::string> front{python, own_shop_py, "front", "--port", std::to_string(front_port_),
                                         "--pid-file", (dir / "front.pid").string(), "--ledger",
                                         "127.0.0.1:" + std::to_string(link_port_), "--mode", mode};
    front_child_ = spawn(front, dir / "front.log");
    if (!eventually([&] { return healthy(front_port_); }, 15s)) throw std::runtime_error("front did not start");
    first_front_pid_ = pid_in(dir / "front.pid");
    std::string front_command;
    for (const auto& a : front) front_command += a + " ";
    const std::string probe = python + " " + own_shop_py + " probe http://127.0.0.1:";
    const json::object topology{
        {"entry_url", url()},
        {"links", json::array{json::object{{"name", "front_ledger"}, {"from", "front"}, {"to", "ledger"},
                                           {"listen", "127.0.0.1:" + std::to_string(link_port_)},
                                           {"upstream", "127.0.0.1:" + std::to_string(ledger_port_)}}}},
        {"nodes",
         json::array{
             json::object{{"name", "front"},
                          {"pid_file", (dir / "front.pid").string()},
                          {"commands",
                           json::object{{"restart", front_command + ">>" + (dir / "front.log").string() + " 2>&1 & " +
                                                        python + " " + own_shop_py + " wait " + url() + "/healthz 10"},
                                        {"health", probe + std::to_string(front_port_) + "/healthz"}}}},
             json::object{{"name", "ledger"},
                          {"commands",
                           json::object{{"pause", "kill -STOP $(cat " + (dir / "ledger.pid").string() + ")"},
                                        {"resume", "kill -CONT $(cat " + (dir / "ledger.pid").string() + ")"},
                                        {"health", probe + std::to_string(ledger_port_) + "/healthz"}}}}}}};
    std::ofstream(dir / "topology.json") << json::serialize(topology);
  }
  ~own_shop() {
    for (const char* file : {"front.pid", "ledger.pid"}) {
      if (const pid_t p = pid_in(dir_ / file); p > 0) {
        ::kill(p, SIGCONT);
        ::kill(p, SIGKILL);
      }
    }
    for (const pid_t child : {ledger_child_, front_child_}) {
      ::kill(child, SIGKILL);
      ::waitpid(child, nullptr, 0);
    }
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(front_port_); }
  fs::path topology() const { return dir_ / "topology.json"; }
  pid_t first_front_pid() const { return first_front_pid_; }
  pid_t front_pid() const { return pid_in(dir_ / "front.pid"); }
  pid_t ledger_pid() const { return pid_in(dir_ / "ledger.pid"); }
  // The ledger's orders, read directly (not through the front or the link).
  json::array ledger_orders() const {
    stampede::http::blocking_client c("127.0.0.1", ledger_port_, 5s);
    return json::parse(c.request("GET", "/orders").body).at("orders").as_array();
  }

 private:
  fs::path dir_;
  pid_t ledger_child_ = -1, front_child_ = -1;
  uint16_t ledger_port_ = 0, link_port_ = 0, front_port_ = 0;
  pid_t first_front_pid_ = 0;
};

using stampede::testing::drill_run;

// The drill started by start_drill() (pid), to its end or `deadline`.
drill_run finish(pid_t pid, const fs::path& dir, std::chrono::seconds deadline) {
  return stampede::testing::collect_drill(wait_bounded(pid, deadline), dir / "out", dir / "drill.log");
}

pid_t start_drill(const temp_dir& dir, const own_shop& shop, std::vector<std::string> extra) {
  std::vector<std::string> args{STAMPEDE_BINARY, "drill", scenarios + "/own_shop.lua", "--target", shop.url(),
                                "--topology", shop.topology().string(), "--out", (dir.path() / "out").string(),
                                "--quiet-timeout", "15s"};
  args.insert(args.end(), extra.begin(), extra.end());
  return spawn(args, dir.path() / "drill.log");
}

const json::object* invariant(const drill_run& r, const std::string& name) {
  for (const auto& inv : r.results.at("verify").at("invariants").as_array()) {
    if (inv.at("name").as_string() == name) return &inv.as_object();
  }
  return nullptr;
}

const std::string orders_invariant = "acknowledged orders are in the ledger exactly once";

TEST(drill_own_system, correct_shop_passes_with_links_node_faults_health_quiesce_and_reports) {
  temp_dir dir{"stampede-own-system-test"};
  own_shop shop(dir.path(), "sync");
  auto r = finish(start_drill(dir, shop, {}), dir.path(), 90s);
  ASSERT_EQ(r.code, 0) << r.log;
  const auto& drill = r.results.at("drill");
  EXPECT_EQ(drill.at("mode"), "target");
  EXPECT_EQ(drill.at("target").as_string(), shop.url());
  std::vector<std::string> links;
  for (const auto& l : drill.at("links").as_array()) links.emplace_back(l.at("name").as_string());
  EXPECT_EQ(links, (std::vector<std::string>{"edge", "front_ledger"}));
  // Every fault happened without error and has recovery figures.
  const auto& chaos = r.results.at("chaos").as_array();
  ASSERT_EQ(chaos.size(), 3u) << json::serialize(chaos);
  for (const auto& f : chaos) {
    EXPECT_FALSE(f.as_object().contains("error")) << json::serialize(f);
    EXPECT_TRUE(f.at("recovery").as_object().contains("degraded_s")) << json::serialize(f);
  }
  EXPECT_GT(chaos.at(1).at("injections").to_number<int64_t>(), 0) << "the link proxy carried the front's calls";
  // The front was killed by its pid and its restart command brought a new process back.
  EXPECT_NE(shop.front_pid(), shop.first_front_pid());
  // Its heal in the recovery figures is when its pid file named a new running process (back_s), not the
  // fault's end (a restart without duration ends with the run).
  const auto& restart = chaos.at(2).as_object();
  ASSERT_TRUE(restart.at("back_s").is_number()) << json::serialize(restart);
  EXPECT_GE(restart.at("back_s").to_number<double>(), restart.at("start_s").to_number<double>());
  EXPECT_LT(restart.at("back_s").to_number<double>(), r.results.at("meta").at("duration_s").to_number<double>());
  EXPECT_EQ(restart.at("recovery").at("heal_basis"), "process back") << json::serialize(restart);
  EXPECT_EQ(restart.at("recovery").at("heal_s"), restart.at("back_s"));
  EXPECT_FALSE(chaos.at(0).as_object().contains("back_s")) << "a pause is healed by its end";
  EXPECT_NE(state_of(shop.front_pid()), 0);
  EXPECT_NE(state_of(shop.ledger_pid()), 'T') << "the pause was healed";
  // After the heal: each node's health command passed, then the scenario's quiesce().
  const auto& health = drill.at("quiet").at("health").as_array();
  ASSERT_EQ(health.size(), 2u);
  for (const auto& h : health) EXPECT_TRUE(h.at("ok").as_bool()) << json::serialize(h);
  EXPECT_TRUE(r.results.at("quiesce").at("ok").as_bool()) << json::serialize(r.results.at("quiesce"));
  const auto* inv = invariant(r, orders_invariant);
  ASSERT_NE(inv, nullptr);
  EXPECT_TRUE(inv->at("ok").as_bool()) << json::serialize(*inv);
  EXPECT_GT(inv->at("evidence").at("acknowledged").to_number<int64_t>(), 50);
  for (const char* f : {"report.html", "summary.md", "junit.xml", "summary.json"}) {
    EXPECT_TRUE(fs::exists(dir.path() / "out" / f)) << f;
  }
}

TEST(drill_own_system, shop_that_acknowledges_before_durable_loses_orders_on_kill_exit_98_with_evidence) {
  temp_dir dir{"stampede-own-system-test"};
  own_shop shop(dir.path(), "buffered");
  auto r = finish(start_drill(dir, shop, {}), dir.path(), 90s);
  EXPECT_EQ(r.code, 98) << r.log;
  ASSERT_TRUE(r.results.is_object()) << r.log;
  EXPECT_TRUE(r.results.at("quiesce").at("ok").as_bool()) << "the loss is not a buffer still being written";
  const auto* inv = invariant(r, orders_invariant);
  ASSERT_NE(inv, nullptr) << r.log;
  EXPECT_FALSE(inv->at("ok").as_bool());
  const auto& evidence = inv->at("evidence").as_object();
  const int64_t lost = evidence.at("lost_count").to_number<int64_t>();
  EXPECT_GT(lost, 0) << json::serialize(*inv);
  EXPECT_NE(std::string(inv->at("detail").as_string()).find(std::to_string(lost) + " lost: k"), std::string::npos)
      << inv->at("detail");
  // The evidence is true: every order it names was acknowledged and is not in the ledger.
  const auto ledger = shop.ledger_orders();
  for (const auto& id : evidence.at("lost").as_array()) {
    for (const auto& o : ledger) EXPECT_NE(o.at("order_id"), id) << "listed as lost but present";
  }
  // The failed invariant is printed once (the run's summary, with its evidence), not again by the drill.
  const std::string failed_line = "\u2717 acknowledged orders are in the ledger exactly once";
  const size_t first = r.log.find(failed_line);
  EXPECT_NE(first, std::string::npos) << r.log;
  EXPECT_EQ(r.log.find(failed_line, first + 1), std::string::npos) << "printed twice:\n" << r.log;
  EXPECT_NE(r.log.find("evidence: "), std::string::npos) << r.log;
}

// A drill killed by SIGKILL while the ledger is paused: its guardian runs the resume command.
TEST(drill_own_system, killed_drill_does_not_leave_the_node_paused) {
  temp_dir dir{"stampede-own-system-test"};
  own_shop shop(dir.path(), "sync");
  const pid_t drill = start_drill(dir, shop, {"-e", "DURATION=30s", "-e", "PAUSE_FOR=60s"});
  ASSERT_TRUE(eventually([&] { return state_of(shop.ledger_pid()) == 'T'; }, 30s)) << read_text(dir.path() / "drill.log");
  ::kill(drill, SIGKILL);
  ::waitpid(drill, nullptr, 0);
  EXPECT_TRUE(eventually([&] { return state_of(shop.ledger_pid()) != 'T'; }, 10s))
      << "the ledger stayed stopped after the drill died\n" << read_text(dir.path() / "drill.log");
}

// Ctrl-C while setup() runs: results that say so, exit 105 (`stampede drill` and `stampede run`).
TEST(drill_own_system, sigint_during_setup_writes_results_and_exits_105) {
  for (const std::string command : {"run", "drill"}) {
    temp_dir dir{"stampede-own-system-test"};
    fs::create_directories(dir.path() / "out");
    std::vector<std::string> args{STAMPEDE_BINARY, command, scenarios + "/setup_blocks.lua", "--target",
                                  "http://127.0.0.1:9"};
    if (command == "drill") {
      args.insert(args.end(), {"--out", (dir.path() / "out").string()});
    } else {
      args.insert(args.end(), {"--out", (dir.path() / "out" / "results.json").string(), "--quiet"});
    }
    const pid_t pid = spawn(args, dir.path() / "drill.log");
    ASSERT_TRUE(eventually([&] { return read_text(dir.path() / "drill.log").find("setup: waiting") != std::string::npos; }, 30s))
        << read_text(dir.path() / "drill.log");
    ::kill(pid, SIGINT);
    auto r = finish(pid, dir.path(), 30s);
    EXPECT_EQ(r.code, 105) << command << "\n" << r.log;
    ASSERT_TRUE(r.results.is_object()) << command << ": no results\n" << r.log;
    const auto& aborted = r.results.at("meta").at("aborted");
    EXPECT_EQ(aborted.at("reason"), "signal") << json::serialize(aborted);
    EXPECT_EQ(aborted.at("phase"), "setup") << json::serialize(aborted);
    EXPECT_EQ(aborted.at("detail"), "interrupted by a signal during setup()");
    if (command == "drill") {
      EXPECT_EQ(r.results.at("drill").at("mode"), "target");
      EXPECT_TRUE(fs::exists(dir.path() / "out" / "report.html"));
    }
  }
}

// A Ctrl-C during the wait for a node's health command ends the wait at once (not after --quiet-timeout).
TEST(drill_own_system, sigint_during_the_health_wait_ends_it) {
  temp_dir dir{"stampede-own-system-test"};
  std::ofstream(dir.path() / "topology.json") << R"({"nodes": [{"name": "db", "commands": {"kill": "true", "health": "exit 1"}}]})";
  const pid_t pid = spawn({STAMPEDE_BINARY, "drill", scenarios + "/quiesce_cases.lua", "--target", "http://127.0.0.1:9",
                           "--topology", (dir.path() / "topology.json").string(), "--quiet-timeout", "300s", "--out",
                           (dir.path() / "out").string()},
                          dir.path() / "drill.log");
  ASSERT_TRUE(eventually([&] { return read_text(dir.path() / "drill.log").find("until node db is healthy") != std::string::npos; }, 30s))
      << read_text(dir.path() / "drill.log");
  ::kill(pid, SIGINT);
  auto r = finish(pid, dir.path(), 60s);
  EXPECT_EQ(r.code, 105) << r.log;
  ASSERT_TRUE(r.results.is_object()) << r.log;
  EXPECT_FALSE(r.results.at("drill").at("quiet").at("health").at(0).at("ok").as_bool());
}

// quiesce() runs after the heal and teardown, before verify; its outcome is recorded in results.quiesce.
// Not quiet (false, its timeout) is not a script error; an error in it is (exit 107, file:line).
TEST(drill_own_system, quiesce_outcomes_are_recorded) {
  struct want {
    const char* mode;
    int code;
    bool ok;
    const char* error;
  };
  for (const want w : {want{"quiet", 0, true, nullptr}, want{"false", 0, false, nullptr},
                       want{"slow", 0, false, "quiesce() did not finish within its timeout"},
                       want{"error", 107, false, "quiesce_cases.lua:9: queue endpoint missing"}}) {
    temp_dir dir{"stampede-own-system-test"};
    const pid_t pid = spawn({STAMPEDE_BINARY, "run", scenarios + "/quiesce_cases.lua", "--target", "http://127.0.0.1:9",
                             "-e", std::string("QUIESCE=") + w.mode, "--quiet", "--out",
                             (dir.path() / "results.json").string()},
                            dir.path() / "drill.log");
    const int code = wait_bounded(pid, 30s);
    const std::string log = read_text(dir.path() / "drill.log");
    EXPECT_EQ(code, w.code) << w.mode << "\n" << log;
    const std::string text = read_text(dir.path() / "results.json");
    ASSERT_FALSE(text.empty()) << w.mode << "\n" << log;
    const json::value results = json::parse(text);
    const auto& q = results.at("quiesce");
    EXPECT_EQ(q.at("ok").as_bool(), w.ok) << w.mode << ": " << json::serialize(q);
    if (w.error != nullptr) {
      EXPECT_NE(std::string(q.at("error").as_string()).find(w.error), std::string::npos) << json::serialize(q);
    }
    if (std::string(w.mode) == "quiet") {
      EXPECT_EQ(q.at("value").at("drained"), 3);
    }
  }
}

TEST(drill_own_system, bad_command_lines_and_topologies_are_refused_naming_the_problem) {
  temp_dir dir{"stampede-own-system-test"};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), STAMPEDE_BINARY);
    return finish(spawn(args, dir.path() / "drill.log"), dir.path(), 20s);
  };
  const std::string scenario = scenarios + "/own_shop.lua";
  auto r = run({"drill", scenario, "--target", "http://127.0.0.1:9", "--nodes", "3"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.log.find("--nodes applies to the reference shop"), std::string::npos) << r.log;
  std::ofstream(dir.path() / "bad.json") << R"({"nodes": [{"name": "db", "commands": {"pause": "x"}}]})";
  fs::remove(dir.path() / "drill.log");
  r = run({"drill", scenario, "--target", "http://127.0.0.1:9", "--topology", (dir.path() / "bad.json").string(),
           "--out", (dir.path() / "out").string()});
  EXPECT_EQ(r.code, 104);
  EXPECT_NE(r.log.find("nodes[1].commands.pause: needs commands.resume"), std::string::npos) << r.log;
  // A fault whose target the topology does not name (own_shop.lua faults "ledger", "front_ledger", "front").
  std::ofstream(dir.path() / "other.json") << R"({"nodes": [{"name": "db", "pid": 12345}]})";
  fs::remove(dir.path() / "drill.log");
  r = run({"drill", scenario, "--target", "http://127.0.0.1:9", "--topology", (dir.path() / "other.json").string(),
           "--out", (dir.path() / "out").string()});
  EXPECT_EQ(r.code, 104);
  EXPECT_NE(r.log.find("options.chaos[1]: node fault target 'ledger' is unknown"), std::string::npos) << r.log;
  EXPECT_EQ(r.log.find("results and reports in"), std::string::npos) << "nothing was written\n" << r.log;
  fs::remove(dir.path() / "drill.log");
  r = run({"drill", scenario, "--topology", (dir.path() / "other.json").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.log.find("--target URL is required"), std::string::npos) << r.log;
  fs::remove(dir.path() / "drill.log");
  r = run({"drill", scenario, "--target", "http://127.0.0.1:9", "--metrics-listen", "localhost:9464"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.log.find("--metrics-listen 'localhost:9464' needs an IP address"), std::string::npos) << r.log;
}

}  // namespace
