// A short `stampede run --dashboard 127.0.0.1:0` of a scenario against the test server, with a fault proxy
// and a planned latency fault: the run under test of the dashboard's end-to-end tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "tests/support/child_process.h"
#include "tests/support/test_server.h"

namespace stampede::testing {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// The load lasts long enough for a browser started after it to read the page twice, 2 s apart, before it
// ends (load_seconds).
inline constexpr int load_seconds = 8;
inline constexpr const char* dashboard_script = R"lua(
options = {
  vus = 4, duration = "8s",
  thresholds = { http_req_duration = { "p(95)<5000" }, http_req_failed = { "rate<0.5" } },
  chaos = { { at = "2s", duration = "2s", fault = "latency", target = "target", latency = 30,
              label = "target +30ms" } },
}
function default()
  http.get("/hello", { name = "hello" })
  sleep(0.05)
end
)lua";

// The dashboard's port, from the banner ("stampede: live dashboard at http://127.0.0.1:PORT/").
inline int dashboard_port(const fs::path& log) {
  int port = 0;
  eventually(
      [&] {
        std::smatch m;
        const std::string text = read_text(log);
        static const std::regex announced("live dashboard at http://127\\.0\\.0\\.1:([0-9]+)/");
        if (std::regex_search(text, m, announced)) port = std::stoi(m[1]);
        return port > 0;
      },
      20s);
  return port;
}

struct dashboard_run {
  stampede::testing::test_server server;
  stampede::testing::temp_dir dir{"stampede-dashboard"};
  pid_t pid = -1;
  int port = 0;

  explicit dashboard_run(const std::string& binary) {
    { std::ofstream(dir.path() / "live.lua") << dashboard_script; }
    pid = stampede::testing::spawn(
        {binary, "run", (dir.path() / "live.lua").string(), "--target", server.base_url(), "--proxy",
         "--dashboard", "127.0.0.1:0", "--out", (dir.path() / "results.json").string(), "--report",
         (dir.path() / "report").string()},
        dir.path() / "run.log");
    if (pid > 0) port = dashboard_port(dir.path() / "run.log");
  }
  // The run's exit code (killed after 40 s: -1).
  int wait() { return stampede::testing::wait_bounded(pid, 40s, 2s); }
  std::string log() const { return read_text(dir.path() / "run.log"); }
};

}  // namespace stampede::testing
