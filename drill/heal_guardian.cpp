#include "drill/heal_guardian.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "chaos/process_faults.h"

namespace stampede::drill {

namespace {

constexpr char healed_word[] = "healed";

char state_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!in || !std::getline(in, text)) return 0;
  const size_t paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size() ? 0 : text[paren + 2];
}

pid_t pid_of(const loadgen::topology_node& node) {
  if (node.pid > 0) return node.pid;
  if (node.pid_file.empty()) return 0;
  std::ifstream in(node.pid_file);
  long value = 0;
  return in >> value && value > 1 && value < (1L << 22) ? static_cast<pid_t>(value) : 0;
}

// The guardian's whole life (single-threaded child: the drill forked it before starting any thread).
[[noreturn]] void guard(int fd, const loadgen::topology& topology) {
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGTERM, SIG_IGN);
  std::string said;
  char buffer[64];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      said.append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  if (said.find(healed_word) != std::string::npos) ::_exit(0);
  for (const auto& node : topology.nodes) {
    if (const pid_t pid = pid_of(node); pid > 0 && state_of(pid) == 'T') {
      ::kill(pid, SIGCONT);
      std::fprintf(stderr, "stampede drill: the drill ended without healing; resumed node %s (pid %d)\n",
                   node.name.c_str(), static_cast<int>(pid));
    }
    if (!node.commands.resume.empty()) {
      const int status = chaos::run_shell_command(node.commands.resume, std::chrono::seconds{30});
      std::fprintf(stderr, "stampede drill: the drill ended without healing; ran node %s's resume command (%s)\n",
                   node.name.c_str(), status == 0 ? "ok" : "failed");
    }
  }
  ::_exit(0);
}

}  // namespace

heal_guardian::heal_guardian(const loadgen::topology& topology) {
  bool pausable = false;
  for (const auto& n : topology.nodes) pausable = pausable || n.supports("pause");
  if (!pausable) return;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;  // no guardian: only a killed drill would miss it
  pid_ = ::fork();
  if (pid_ == 0) {
    ::close(fds[1]);
    guard(fds[0], topology);
  }
  ::close(fds[0]);
  if (pid_ < 0) {
    ::close(fds[1]);
    return;
  }
  fd_ = fds[1];
}

heal_guardian::~heal_guardian() {
  if (pid_ <= 0) return;
  ssize_t written;
  do {
    written = ::write(fd_, healed_word, sizeof healed_word - 1);
  } while (written < 0 && errno == EINTR);
  ::close(fd_);
  ::waitpid(pid_, nullptr, 0);
}

}  // namespace stampede::drill
