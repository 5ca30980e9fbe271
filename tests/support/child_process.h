// Child processes for tests that run real binaries: a temporary directory, spawning with output into a
// log file, a bounded wait (killed at its deadline), and polling for a state that has no event to wait on.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace stampede::testing {

// A fresh directory under the system's temporary directory (mkdtemp), removed with its contents unless
// STAMPEDE_TEST_KEEP is set (to look at a failed test's files).
class temp_dir {
 public:
  explicit temp_dir(std::string_view prefix = "stampede-test");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The whole file; empty when it cannot be read.
std::string read_text(const std::filesystem::path& path);

struct spawn_options {
  bool append = false;  // append to the log instead of truncating it
  // SIGINT and SIGTERM at their defaults and unblocked, as in a terminal (a test runner started in the
  // background ignores SIGINT, and children inherit that): for tests of what a user's Ctrl-C does.
  bool default_signals = false;
  std::vector<std::string> env;  // "NAME=value" entries that replace the inherited NAME
};

// Starts args[0] (a path) with `args`, stdout and stderr into `log`; -1 when it could not be started.
pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& log, const spawn_options& options = {});

// Waits for `pid`. At the deadline: SIGTERM and up to `term_grace` to exit (when non-zero), then SIGKILL.
// Returns the exit code, -1 when killed at the deadline or ended by a signal.
int wait_bounded(pid_t pid, std::chrono::milliseconds deadline, std::chrono::milliseconds term_grace = {});

// spawn() then wait_bounded(); -2 when the binary could not be started.
int run_bounded(const std::vector<std::string>& args, const std::filesystem::path& log,
                std::chrono::milliseconds deadline, std::chrono::milliseconds term_grace = {});

// Polls `ready` every 20 ms until it holds (true) or `bound` passes (false): for a process's state, which
// has no event to wait on.
template <class F>
bool eventually(F ready, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return true;
}

// The process's state letter from /proc/PID/stat ('T' stopped, 'Z' zombie, ...); 0 when there is none.
char process_state(pid_t pid);

}  // namespace stampede::testing
