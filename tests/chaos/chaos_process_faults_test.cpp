// Node faults on real child processes (sh -c "exec sleep ...").
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "chaos/process_faults.h"

namespace stampede::chaos {
namespace {

using namespace std::chrono_literals;

char state_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return 0;
  return text[text.rfind(')') + 2];
}

// Polls /proc until the state matches (signal delivery is asynchronous); bounded.
bool wait_state(pid_t pid, char want, std::chrono::milliseconds timeout = 2s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (state_of(pid) == want) return true;
    std::this_thread::sleep_for(2ms);
  }
  return false;
}

TEST(process_faults, pause_resume_kill_on_a_started_child) {
  auto log = std::make_shared<injection_log>();
  process_faults node({.name = "node1", .start_command = "sleep 30"}, log);
  const pid_t pid = node.start();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(node.alive());
  node.pause();
  EXPECT_TRUE(wait_state(pid, 'T'));
  node.resume();
  EXPECT_TRUE(wait_state(pid, 'S'));
  node.kill();
  EXPECT_FALSE(node.alive());
  ASSERT_GE(log->entries().size(), 4u);
  EXPECT_EQ(log->entries()[1].type, "pause");
  EXPECT_EQ(log->entries()[1].connection, static_cast<uint64_t>(pid));
}

TEST(process_faults, terminate_exits_within_grace_and_escalates_otherwise) {
  process_faults polite({.start_command = "sleep 30"});
  polite.start();
  EXPECT_TRUE(polite.terminate(2s));
  EXPECT_FALSE(polite.alive());

  process_faults stubborn({.start_command = "trap '' TERM; while :; do sleep 0.05; done"});
  stubborn.start();
  std::this_thread::sleep_for(100ms);  // let the shell install its trap (not synchronisation of results)
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(stubborn.terminate(200ms));  // ignored SIGTERM -> SIGKILL after the grace
  EXPECT_FALSE(stubborn.alive());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(process_faults, pid_file_target_and_heal_always_resumes) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::execlp("sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto file = std::filesystem::temp_directory_path() / ("chaos_pid_" + std::to_string(::getpid()));
  std::ofstream(file) << child << "\n";
  {
    process_faults node({.pid_file = file.string()});
    EXPECT_EQ(node.pid(), child);
    node.pause();
    EXPECT_TRUE(wait_state(child, 'T'));
  }  // destructor heals: the process must not stay stopped
  EXPECT_TRUE(wait_state(child, 'S'));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  std::filesystem::remove(file);
  process_faults missing({.pid_file = file.string()});
  EXPECT_THROW(missing.pid(), process_error);
  EXPECT_FALSE(missing.alive());
}

TEST(process_faults, restart_runs_the_start_command_again_or_the_callback) {
  process_faults node({.start_command = "sleep 30"});
  const pid_t first = node.start();
  node.pause();
  const pid_t second = node.restart();
  EXPECT_NE(first, second);
  EXPECT_TRUE(node.alive());
  EXPECT_NE(state_of(first), 'T');

  int called = 0;
  process_faults with_callback({.start_command = "sleep 30", .restart_callback = [&] { ++called; }});
  with_callback.start();
  with_callback.restart();
  EXPECT_EQ(called, 1);
  EXPECT_THROW(process_faults({.pid = 0}).restart(), process_error);
}

TEST(process_faults, stop_command_and_failures) {
  const auto marker = std::filesystem::temp_directory_path() / ("chaos_stop_" + std::to_string(::getpid()));
  process_faults node({.start_command = "sleep 30", .stop_command = "touch " + marker.string()});
  node.start();
  node.stop();
  EXPECT_TRUE(std::filesystem::exists(marker));
  std::filesystem::remove(marker);
  process_faults failing({.start_command = "sleep 30", .stop_command = "exit 3"});
  failing.start();
  EXPECT_THROW(failing.stop(), process_error);
}

}  // namespace
}  // namespace stampede::chaos
