#include "chaos/process_faults.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

namespace stampede::chaos {

namespace {

using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

// 'Z' (zombie) and 'X' (dead) count as gone.
char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!in || !std::getline(in, text)) return 0;
  const size_t paren = text.rfind(')');  // the command name may contain spaces and parentheses
  if (paren == std::string::npos || paren + 2 >= text.size()) return 0;
  return text[paren + 2];
}

}  // namespace

int run_shell_command(const std::string& command, std::chrono::milliseconds timeout) {
  const pid_t p = ::fork();
  if (p < 0) return -2;
  if (p == 0) {
    ::setpgid(0, 0);  // its own group: a timeout ends the command and whatever it started in the foreground
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    // Nothing of ours leaks into what the command leaves running (e.g. a restarted server holding a
    // proxy's listening socket after we are gone).
    ::close_range(3, ~0U, 0);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  const auto deadline = steady::now() + timeout;
  for (;;) {
    const pid_t r = ::waitpid(p, &status, WNOHANG);
    if (r == p) break;
    if (r < 0 && errno != EINTR) return -2;
    if (steady::now() >= deadline) {
      ::kill(-p, SIGKILL);
      ::kill(p, SIGKILL);
      ::waitpid(p, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(5ms);  // a child's exit has no waitable handle without a SIGCHLD handler
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
}

process_faults::process_faults(process_target target, std::shared_ptr<injection_log> log)
    : target_(std::move(target)), log_(std::move(log)) {}

process_faults::~process_faults() {
  heal();
  std::lock_guard lock(mutex_);
  if (child_ > 0) {
    ::kill(child_, SIGKILL);
    wait_gone_locked(child_, 2000ms);
    child_ = 0;
  }
}

void process_faults::record(std::string_view action, pid_t pid, std::string detail) {
  if (!log_) return;
  injection e;
  e.time = std::chrono::system_clock::now();
  e.proxy = "process";
  e.toxic = target_.name;
  e.type = action;
  e.direction = "node";
  e.connection = static_cast<uint64_t>(pid);
  e.detail = std::move(detail);
  log_->append(std::move(e));
}

pid_t process_faults::pid() const {
  std::lock_guard lock(mutex_);
  return pid_locked();
}

pid_t process_faults::pid_locked() const {
  if (child_ > 0) return child_;
  if (target_.pid > 0) return target_.pid;
  if (!target_.pid_file.empty()) {
    std::ifstream in(target_.pid_file);
    long value = 0;
    if (in >> value && value > 1 && value < (1L << 22)) return static_cast<pid_t>(value);
    throw process_error("pid file '" + target_.pid_file + "' is missing or holds no valid pid");
  }
  throw process_error("process '" + target_.name + "' has no pid (not started, no pid or pid file)");
}

bool process_faults::alive() const {
  std::lock_guard lock(mutex_);
  pid_t p = 0;
  try {
    p = pid_locked();
  } catch (const process_error&) {
    return false;
  }
  if (p == child_) {
    int status = 0;
    if (::waitpid(p, &status, WNOHANG) == p) {
      const_cast<process_faults*>(this)->child_ = 0;  // reaped: the child is gone
      return false;
    }
  }
  const char s = proc_state(p);
  return s != 0 && s != 'Z' && s != 'X';
}

bool process_faults::wait_gone_locked(pid_t p, std::chrono::milliseconds timeout) {
  const auto deadline = steady::now() + timeout;
  for (;;) {
    if (p == child_) {
      int status = 0;
      const pid_t r = ::waitpid(p, &status, WNOHANG);
      if (r == p || (r < 0 && errno == ECHILD)) {
        child_ = 0;
        return true;
      }
    } else {
      const char s = proc_state(p);
      if (s == 0 || s == 'Z' || s == 'X') return true;
    }
    if (steady::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);  // polling a foreign pid: there is no portable exit notification
  }
}

void process_faults::signal_locked(int sig, std::string_view action) {
  const pid_t p = pid_locked();
  if (::kill(p, sig) != 0) {
    throw process_error(std::string(action) + " " + std::to_string(p) + ": " + std::strerror(errno));
  }
  record(action, p);
}

pid_t process_faults::spawn_locked(const std::string& command, bool exec) {
  const bool simple = command.find_first_of(";&|\n") == std::string::npos;
  const std::string exec_command = exec && simple ? "exec " + command : command;
  const pid_t p = ::fork();
  if (p < 0) throw process_error(std::string("fork: ") + std::strerror(errno));
  if (p == 0) {
    ::setpgid(0, 0);
    // Unblock signals the parent may have blocked (e.g. the CLI blocks SIGINT/SIGTERM for sigwait).
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execl("/bin/sh", "sh", "-c", exec_command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return p;
}

void process_faults::run_command_locked(const std::string& command, std::string_view what) {
  const int status = run_shell_command(command, 30s);
  if (status == -1) throw process_error(std::string(what) + " command timed out after 30 s: " + command);
  if (status != 0) {
    throw process_error(std::string(what) + " command failed (" +
                        (status > 0 ? "exit " + std::to_string(status) : std::string("not run or ended by a signal")) +
                        "): " + command);
  }
}

pid_t process_faults::start() {
  std::lock_guard lock(mutex_);
  if (target_.start_command.empty()) throw process_error("process '" + target_.name + "' has no start command");
  child_ = spawn_locked(target_.start_command, true);
  record("start", child_, target_.start_command);
  return child_;
}

void process_faults::stop(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mutex_);
    if (!target_.stop_command.empty()) {
      run_command_locked(target_.stop_command, "stop");
      record("stop", 0, target_.stop_command);
      return;
    }
  }
  terminate(grace);
}

void process_faults::kill() {
  std::lock_guard lock(mutex_);
  if (!target_.kill_command.empty()) {
    run_command_locked(target_.kill_command, "kill");
    record("kill", 0, target_.kill_command);
    return;
  }
  const pid_t p = pid_locked();
  signal_locked(SIGKILL, "kill");
  paused_.erase(p);
  wait_gone_locked(p, 2000ms);
}

bool process_faults::terminate(std::chrono::milliseconds grace) {
  std::lock_guard lock(mutex_);
  const pid_t p = pid_locked();
  if (paused_.contains(p)) ::kill(p, SIGCONT);  // a stopped process cannot handle SIGTERM
  paused_.erase(p);
  signal_locked(SIGTERM, "terminate");
  if (wait_gone_locked(p, grace)) return true;
  ::kill(p, SIGKILL);
  record("kill", p, "terminate grace expired");
  wait_gone_locked(p, 2000ms);
  return false;
}

void process_faults::pause() {
  std::lock_guard lock(mutex_);
  if (!target_.pause_command.empty()) {
    paused_by_command_ = true;  // before the command: heal() must run the resume command even if it failed half-way
    run_command_locked(target_.pause_command, "pause");
    record("pause", 0, target_.pause_command);
    return;
  }
  const pid_t p = pid_locked();
  paused_.insert(p);  // before the signal: heal() must resume it even if we are interrupted here
  signal_locked(SIGSTOP, "pause");
}

void process_faults::resume() {
  std::lock_guard lock(mutex_);
  if (paused_by_command_ && !target_.resume_command.empty()) {
    run_command_locked(target_.resume_command, "resume");
    paused_by_command_ = false;
    record("resume", 0, target_.resume_command);
    return;
  }
  const pid_t p = pid_locked();
  signal_locked(SIGCONT, "resume");
  paused_.erase(p);
}

pid_t process_faults::restart() {
  std::lock_guard lock(mutex_);
  pid_t old = 0;
  try {
    old = pid_locked();
  } catch (const process_error&) {
  }
  if (old > 0) {
    const char s = proc_state(old);
    if (s != 0 && s != 'Z' && s != 'X') {
      ::kill(old, SIGKILL);
      record("kill", old, "restart");
    }
    paused_.erase(old);
    wait_gone_locked(old, 2000ms);
  }
  if (!target_.restart_command.empty()) run_command_locked(target_.restart_command, "restart");
  if (target_.restart_callback) target_.restart_callback();
  if (target_.restart_command.empty() && !target_.restart_callback) {
    if (target_.start_command.empty()) throw process_error("process '" + target_.name + "' has no way to restart");
    child_ = spawn_locked(target_.start_command, true);
  }
  pid_t now = 0;
  try {
    now = pid_locked();
  } catch (const process_error&) {
  }
  record("restart", now);
  return now;
}

void process_faults::heal() noexcept {
  std::lock_guard lock(mutex_);
  for (pid_t p : paused_) {
    ::kill(p, SIGCONT);
    record("resume", p, "heal");
  }
  paused_.clear();
  if (paused_by_command_ && !target_.resume_command.empty()) {
    try {
      run_command_locked(target_.resume_command, "resume");
      record("resume", 0, "heal: " + target_.resume_command);
    } catch (const std::exception& e) {
      record("resume", 0, std::string("heal failed: ") + e.what());
    }
    paused_by_command_ = false;
  }
}

}  // namespace stampede::chaos
