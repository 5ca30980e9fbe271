// `stampede run` (the real binary) writes the same recovery figures into its results as `stampede drill`:
// a +300 ms fault at 40 requests/s through --proxy is detected and recovers, a fault on a link no request
// uses is not detected, a killed process that comes back is healed when it is back, one that does not is
// "not healed", and options.recovery is validated. Every run is bounded (killed at its deadline).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/test_server.h"

namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

using stampede::testing::read_text;
using stampede::testing::spawn;

// Runs stampede with `args`; returns the exit code (-1 when killed at the deadline).
int run_stampede(std::vector<std::string> args, const fs::path& log, std::chrono::seconds deadline) {
  args.insert(args.begin(), STAMPEDE_BINARY);
  return stampede::testing::run_bounded(args, log, deadline);
}

// A pid file naming `pid`, replaced atomically (readers never see half a file).
void write_pid_file(const fs::path& path, pid_t pid) {
  const fs::path tmp = path.string() + ".tmp";
  std::ofstream(tmp) << pid << "\n";
  fs::rename(tmp, path);
}

const std::string scenario = std::string(STAMPEDE_DRILL_TEST_SCENARIOS) + "/recovery_run.lua";

TEST(recovery_run, proxy_run_writes_recovery_figures_into_its_results) {
  stampede::testing::test_server server;
  stampede::testing::temp_dir dir{"stampede-recovery-test"};
  const std::string address = "127.0.0.1:" + std::to_string(server.port());
  const int code =
      run_stampede({"run", scenario, "--target", server.base_url(), "--proxy", "--quiet", "--threads", "1",
                    "-e", "MODE=proxy", "-e", "SPARE=" + address, "--out",
                    (dir.path() / "results.json").string(), "--report", (dir.path() / "report").string()},
                   dir.path() / "run.log", std::chrono::seconds{60});
  const std::string log = read_text(dir.path() / "run.log");
  ASSERT_EQ(code, 0) << log;
  const json::value results = json::parse(read_text(dir.path() / "results.json"));
  EXPECT_EQ(results.at("recovery_options").at("consecutive_healthy_s"), 4);
  EXPECT_EQ(results.at("scenarios").at(0).at("load").at("unit"), "arrivals_per_s");
  const auto& chaos = results.at("chaos").as_array();
  ASSERT_EQ(chaos.size(), 2u) << json::serialize(chaos);

  const auto& clients = chaos[0].at("recovery").as_object();
  EXPECT_EQ(clients.at("status"), "recovered") << json::serialize(clients);
  EXPECT_EQ(clients.at("detected"), true);
  ASSERT_TRUE(clients.at("time_to_detect_s").is_number()) << json::serialize(clients);
  EXPECT_LE(clients.at("time_to_detect_s").to_number<double>(), 1.0);
  EXPECT_GT(clients.at("degraded_by").at("latency").to_number<int64_t>(), 0);
  EXPECT_GT(clients.at("p99_during_ms").to_number<double>(), 250.0);
  EXPECT_EQ(clients.at("consecutive_healthy_s"), 4);

  const auto& spare = chaos[1].at("recovery").as_object();
  EXPECT_EQ(chaos[1].at("injections"), 0) << json::serialize(chaos[1]);
  EXPECT_EQ(spare.at("detected"), false) << json::serialize(spare);
  EXPECT_EQ(spare.at("status"), "unaffected");

  // The reports written by the run show the verdicts.
  const std::string md = read_text(dir.path() / "report" / "summary.md");
  EXPECT_NE(md.find("recovered after"), std::string::npos) << md;
  EXPECT_NE(md.find("touched no traffic"), std::string::npos) << md;
}

TEST(recovery_run, a_killed_process_heals_when_it_is_back_and_one_that_is_not_is_not_healed) {
  stampede::testing::test_server server;
  stampede::testing::temp_dir dir{"stampede-recovery-test"};
  const fs::path respawned = dir.path() / "respawned.pid", gone = dir.path() / "gone.pid";
  // Two stand-in processes (bounded: they end by themselves after 30 s).
  const pid_t first = spawn({"/bin/sleep", "30"}, dir.path() / "sleep1.log");
  const pid_t other = spawn({"/bin/sleep", "30"}, dir.path() / "sleep2.log");
  ASSERT_GT(first, 0);
  ASSERT_GT(other, 0);
  write_pid_file(respawned, first);
  write_pid_file(gone, other);
  // The "supervisor": once the first process is killed (waitpid returns), start a new one in its file.
  pid_t replacement = -1;
  std::thread supervisor([&] {
    int status = 0;
    ::waitpid(first, &status, 0);
    replacement = spawn({"/bin/sleep", "30"}, dir.path() / "sleep3.log");
    write_pid_file(respawned, replacement);
    ::waitpid(other, &status, 0);
  });
  const int code =
      run_stampede({"run", scenario, "--target", server.base_url(), "--quiet", "--threads", "1", "-e",
                    "MODE=kill", "-e", "DURATION=10s", "-e", "RESPAWNED=" + respawned.string(), "-e",
                    "GONE=" + gone.string(), "--out", (dir.path() / "results.json").string()},
                   dir.path() / "run.log", std::chrono::seconds{60});
  supervisor.join();
  if (replacement > 0) {
    ::kill(replacement, SIGKILL);
    ::waitpid(replacement, nullptr, 0);
  }
  const std::string log = read_text(dir.path() / "run.log");
  ASSERT_EQ(code, 0) << log;
  const json::value results = json::parse(read_text(dir.path() / "results.json"));
  const auto& chaos = results.at("chaos").as_array();
  ASSERT_EQ(chaos.size(), 2u) << json::serialize(chaos);

  // Back under a new pid shortly after the kill (the observation runs every <= 100 ms).
  ASSERT_TRUE(chaos[0].at("back_s").is_number()) << json::serialize(chaos[0]);
  const double back = chaos[0].at("back_s").to_number<double>();
  EXPECT_GE(back, chaos[0].at("start_s").to_number<double>());
  EXPECT_LT(back, chaos[0].at("start_s").to_number<double>() + 2.0);
  const auto& healed = chaos[0].at("recovery").as_object();
  EXPECT_EQ(healed.at("heal_basis"), "process back") << json::serialize(healed);
  EXPECT_DOUBLE_EQ(healed.at("heal_s").to_number<double>(), back);
  EXPECT_NE(healed.at("status"), "not_healed");

  EXPECT_TRUE(chaos[1].at("back_s").is_null()) << json::serialize(chaos[1]);
  const auto& never = chaos[1].at("recovery").as_object();
  EXPECT_EQ(never.at("status"), "not_healed") << json::serialize(never);
  EXPECT_NE(std::string(never.at("reason").as_string()).find("was not back before the run ended"),
            std::string::npos);
}

TEST(recovery_run, invalid_recovery_options_exit_104_naming_the_key) {
  stampede::testing::temp_dir dir{"stampede-recovery-test"};
  auto run_script = [&](const std::string& name, const std::string& options) {
    const fs::path script = dir.path() / name;
    std::ofstream(script) << "options = { vus = 1, iterations = 1, recovery = " << options
                          << " }\nfunction default() end\n";
    const int code = run_stampede({"run", script.string(), "--quiet"}, dir.path() / (name + ".log"),
                                  std::chrono::seconds{30});
    return std::make_pair(code, read_text(dir.path() / (name + ".log")));
  };
  auto [code, log] = run_script("confidence.lua", "{ confidence = 1.5 }");
  EXPECT_EQ(code, 104) << log;
  EXPECT_NE(log.find("options.recovery.confidence: must be between 0.5 and 1 (1 excluded)"),
            std::string::npos)
      << log;

  std::tie(code, log) = run_script("typo.lua", "{ consecutive_healthy = 3 }");
  EXPECT_EQ(code, 104) << log;
  EXPECT_NE(log.find("options.recovery.consecutive_healthy: unknown key (known: consecutive_healthy_s,"),
            std::string::npos)
      << log;

  std::tie(code, log) = run_script("whole.lua", "{ consecutive_healthy_s = 2.5 }");
  EXPECT_EQ(code, 104) << log;
  EXPECT_NE(log.find("options.recovery.consecutive_healthy_s: must be a whole number"), std::string::npos)
      << log;

  std::tie(code, log) = run_script("window.lua", "{ baseline_min_s = 10, baseline_max_s = 5 }");
  EXPECT_EQ(code, 104) << log;
  EXPECT_NE(log.find("options.recovery.baseline_max_s: must be at least baseline_min_s (10)"),
            std::string::npos)
      << log;
}

}  // namespace
