#include "tests/support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace stampede::testing {

namespace fs = std::filesystem;

temp_dir::temp_dir(std::string_view prefix) {
  std::string pattern = (fs::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

temp_dir::~temp_dir() {
  if (std::getenv("STAMPEDE_TEST_KEEP") != nullptr) return;  // kept to look at after a failure
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {

// The inherited environment with `overrides` ("NAME=value") in place of the same names.
std::vector<char*> environment(std::vector<std::string>& overrides) {
  std::vector<char*> envp;
  for (auto& o : overrides) envp.push_back(o.data());
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    bool replaced = false;
    for (const auto& o : overrides) {
      const std::string_view name = std::string_view(o).substr(0, o.find('=') + 1);
      if (entry.substr(0, name.size()) == name) replaced = true;
    }
    if (!replaced) envp.push_back(*e);
  }
  envp.push_back(nullptr);
  return envp;
}

}  // namespace

pid_t spawn(const std::vector<std::string>& args, const fs::path& log, const spawn_options& options) {
  std::vector<std::string> all = args;
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> overrides = options.env;
  std::vector<char*> envp = environment(overrides);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const int mode = O_WRONLY | O_CREAT | (options.append ? O_APPEND : O_TRUNC);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), mode, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (options.default_signals) {
    sigset_t defaults, none;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  }
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, all[0].c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

int wait_bounded(pid_t pid, std::chrono::milliseconds deadline, std::chrono::milliseconds term_grace) {
  int status = 0;
  const auto exited = [&] { return ::waitpid(pid, &status, WNOHANG) == pid; };
  if (eventually(exited, deadline)) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (term_grace.count() > 0) {
    ::kill(pid, SIGTERM);  // lets a drill stop its shop on the way out
    if (eventually(exited, term_grace)) return -1;
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

int run_bounded(const std::vector<std::string>& args, const fs::path& log, std::chrono::milliseconds deadline,
                std::chrono::milliseconds term_grace) {
  const pid_t pid = spawn(args, log);
  if (pid < 0) return -2;
  return wait_bounded(pid, deadline, term_grace);
}

char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return 0;
  return text[text.rfind(')') + 2];
}

}  // namespace stampede::testing
