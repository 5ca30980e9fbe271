// The fixture of the distributed end-to-end tests: a test server, a temporary directory, `stampede
// coordinate` on a free port and `stampede agent` processes against it, through the real binary
// (STAMPEDE_BINARY).
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/test_server.h"

namespace stampede::testing {

inline boost::json::object load(const std::filesystem::path& path) {
  return boost::json::parse(read_text(path)).as_object();
}

class distributed_run : public ::testing::Test {
 protected:
  using path = std::filesystem::path;
  const std::string binary = STAMPEDE_BINARY;
  stampede::testing::test_server server;
  stampede::testing::temp_dir dir{"stampede-distributed"};

  path write_script(const char* text) {
    const path lua = dir.path() / "scenario.lua";
    std::ofstream(lua) << text;
    return lua;
  }

  // Starts the coordinator on a free port; returns its pid and sets `url` once it listens.
  pid_t start_coordinator(const path& lua, int shards, std::vector<std::string> extra) {
    std::vector<std::string> args{binary,
                                  "coordinate",
                                  lua.string(),
                                  "--shards",
                                  std::to_string(shards),
                                  "--listen",
                                  "127.0.0.1:0",
                                  "--target",
                                  server.base_url(),
                                  "--out",
                                  (dir.path() / "merged.json").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const pid_t pid = stampede::testing::spawn(args, coordinator_log());
    EXPECT_GT(pid, 0);
    const std::regex listening("listening on (http://127\\.0\\.0\\.1:[0-9]+)");
    std::smatch m;
    EXPECT_TRUE(eventually(
        [&] {
          const std::string log = read_text(coordinator_log());
          if (!std::regex_search(log, m, listening)) return false;
          url = m[1];
          return true;
        },
        std::chrono::seconds(10)))
        << read_text(coordinator_log());
    if (url.empty()) kill(pid, SIGKILL);
    return pid;
  }

  pid_t start_agent(int i, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{binary,
                                  "agent",
                                  "--coordinator",
                                  url,
                                  "--agent-id",
                                  "a" + std::to_string(i),
                                  "-t",
                                  "1",
                                  "-q",
                                  "--out",
                                  (dir.path() / ("shard" + std::to_string(i) + ".json")).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    // Its scenario directory inside the test's own: a test that kills an agent leaves nothing in /tmp.
    return stampede::testing::spawn(args, agent_log(i), {.env = {"TMPDIR=" + dir.path().string()}});
  }

  path coordinator_log() const { return dir.path() / "coordinator.log"; }
  path agent_log(int i) const { return dir.path() / ("agent" + std::to_string(i) + ".log"); }

  std::string url;
};

}  // namespace stampede::testing
