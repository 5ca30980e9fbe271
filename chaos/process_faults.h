// Node faults by signal: kill (SIGKILL), terminate (SIGTERM, then SIGKILL after a grace period),
// pause/resume (SIGSTOP/SIGCONT), restart (command, callback, or the start command again).
// The target is a pid, a pid file (re-read at every action, so it follows restarts), or a process
// started by start_command (then its pid is tracked and the child is reaped). A target may instead (or
// also) name shell commands for kill, pause and resume (e.g. `docker pause db`): a command, when set, is
// used instead of the signal.
//
// Guarantee: a process paused through this object is resumed by heal(), which the destructor always
// runs — a paused process is never left stopped when the object goes away.
// Thread-safety: all members are safe to call concurrently (one internal mutex). Waits are bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>

#include "chaos/injection_log.h"

namespace stampede::chaos {

struct process_target {
  std::string name = "process";        // used in the injection log
  pid_t pid = 0;                       // a known pid, or
  std::string pid_file{};              // a file holding the pid (first integer in it), or
  // Run with /bin/sh -c by start(); its pid is tracked. A simple command (no ; & | newline) is run as
  // "exec COMMAND" so the pid is the program's own, not the shell's.
  std::string start_command{};
  std::string stop_command{};          // optional, run by stop() instead of SIGTERM
  std::string restart_command{};       // optional, run by restart() after the process is gone
  std::function<void()> restart_callback{};  // optional, called by restart() (after restart_command)
  std::string kill_command{};          // optional, run by kill() instead of SIGKILL
  std::string pause_command{};         // optional, run by pause() instead of SIGSTOP (needs resume_command)
  std::string resume_command{};        // optional, run by resume() and heal() after a pause_command
};

// Runs `/bin/sh -c COMMAND` (signals unblocked, own process group, stdin from /dev/null) and waits up to
// `timeout`, then SIGKILLs its process group. Returns its exit status (0 = success), -1 when it timed out,
// -2 when it could not be started or was ended by a signal. Thread-safe.
int run_shell_command(const std::string& command, std::chrono::milliseconds timeout);

class process_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class process_faults {
 public:
  // `log` (optional) receives one entry per action: proxy="process", toxic=name, type=action, connection=pid.
  explicit process_faults(process_target target, std::shared_ptr<injection_log> log = nullptr);
  ~process_faults();  // heal(); a process we started is killed and reaped
  process_faults(const process_faults&) = delete;
  process_faults& operator=(const process_faults&) = delete;

  // The current pid (from pid, pid file or the started child). Throws process_error if unknown.
  pid_t pid() const;
  bool alive() const;  // the target exists and is not a zombie

  // Runs start_command; returns the new pid. Throws process_error if there is no start command.
  pid_t start();
  // stop_command if set, else terminate().
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds{5000});

  void kill();                                              // SIGKILL and wait (up to 2 s) for it to go
  // SIGTERM, wait up to `grace` for exit, then SIGKILL. Returns true if it exited within the grace.
  bool terminate(std::chrono::milliseconds grace = std::chrono::milliseconds{5000});
  void pause();                                             // SIGSTOP or pause_command (remembered for heal)
  void resume();                                            // SIGCONT or resume_command
  // Kills the process if alive (SIGKILL), then runs restart_command and/or restart_callback; with
  // neither, runs start_command again. Returns the pid afterwards (0 if unknown, e.g. a callback).
  pid_t restart();

  // Resumes every process this object paused (and runs resume_command after a pause_command). Never
  // throws; always safe to call.
  void heal() noexcept;

 private:
  pid_t pid_locked() const;
  void signal_locked(int sig, std::string_view action);
  bool wait_gone_locked(pid_t pid, std::chrono::milliseconds timeout);
  void record(std::string_view action, pid_t pid, std::string detail = {});
  pid_t spawn_locked(const std::string& command, bool exec);
  void run_command_locked(const std::string& command, std::string_view what);

  process_target target_;
  std::shared_ptr<injection_log> log_;
  mutable std::mutex mutex_;
  pid_t child_ = 0;                 // started by us (reaped by us)
  std::set<pid_t> paused_;
  bool paused_by_command_ = false;
};

}  // namespace stampede::chaos
