#include "reference_shop/child_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <stdexcept>

namespace stampede::shop {

using steady = std::chrono::steady_clock;

std::string self_exe() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot resolve /proc/self/exe: " + ec.message());
  return path.string();
}

// fork + exec with the parent's death signal set and a clean signal mask. `ready_fd` >= 0: the child's
// end of a pipe, passed as fd 3. Returns the pid.
pid_t spawn(const std::string& program, const std::vector<std::string>& argv, int ready_fd,
            const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork: " + std::string{std::strerror(errno)});
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the supervisor died between fork and prctl
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (ready_fd >= 0) {
      if (ready_fd != 3) {
        ::dup2(ready_fd, 3);
        ::close(ready_fd);
      } else {
        ::fcntl(3, F_SETFD, 0);
      }
    }
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execv(program.c_str(), cargv.data());
    std::fprintf(stderr, "stampede shop: cannot exec %s: %s\n", program.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  return pid;
}

std::optional<server_account> postgres_account() {
  if (::geteuid() != 0) return server_account{::geteuid(), ::getegid()};
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (::getpwnam_r("postgres", &pw, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return server_account{pw.pw_uid, pw.pw_gid};
}

pid_t spawn_as(const server_account* account, const std::string& program, const std::vector<std::string>& argv,
               const std::filesystem::path& cwd, const std::filesystem::path& log, int death_signal,
               const std::vector<std::string>* env) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  if (env != nullptr) {
    for (const auto& e : *env) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
  }
  const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) throw std::runtime_error("cannot open " + log.string() + ": " + std::strerror(errno));
  const bool drop = account != nullptr && ::geteuid() == 0;
  if (drop && ::fchown(out, account->uid, account->gid) != 0) {
    ::close(out);
    throw std::runtime_error("cannot hand " + log.string() + " to the postgres user");
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out);
    throw std::runtime_error("fork: " + std::string{std::strerror(errno)});
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    const int null_in = ::open("/dev/null", O_RDONLY);
    ::dup2(null_in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::close_range(3, ~0U, 0);
    if (drop && (::setgroups(0, nullptr) != 0 || ::setgid(account->gid) != 0 || ::setuid(account->uid) != 0)) {
      ::_exit(126);
    }
    ::prctl(PR_SET_PDEATHSIG, death_signal);  // after the credentials change, which clears it
    if (::getppid() != parent) ::_exit(127);  // the parent died before the death signal was armed
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    if (env != nullptr) {
      ::execve(program.c_str(), cargv.data(), cenv.data());
    } else {
      ::execv(program.c_str(), cargv.data());
    }
    ::_exit(127);
  }
  ::close(out);
  return pid;
}

// Reads "PORT\n" from a child's ready pipe within the deadline.
uint16_t wait_ready(int fd, const std::string& what, std::chrono::milliseconds timeout) {
  std::string text;
  const auto deadline = steady::now() + timeout;
  while (text.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0) throw std::runtime_error(what + " did not become ready in time");
    pollfd p{fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    char buffer[64];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) throw std::runtime_error(what + " exited before it was ready (see its messages above)");
    text.append(buffer, static_cast<size_t>(n));
  }
  const int port = std::atoi(text.c_str());
  if (port <= 0 || port > 65535) throw std::runtime_error(what + " reported a bad port");
  return static_cast<uint16_t>(port);
}

std::optional<int> wait_exit(pid_t pid, steady::time_point deadline) {
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno == ECHILD) return 0;  // already reaped by someone else
    if (steady::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});  // polling a child process
  }
}

std::string log_tail(const std::filesystem::path& file, size_t lines) {
  std::ifstream in{file, std::ios::binary};
  if (!in) return "(no log)";
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::streamoff>(in.tellg());
  in.seekg(std::max<std::streamoff>(0, size - 4096));
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  while (!text.empty() && text.back() == '\n') text.pop_back();
  size_t at = text.size();
  for (size_t n = 0; n < lines && at != std::string::npos && at > 0; ++n) at = text.rfind('\n', at - 1);
  return at == std::string::npos || at == 0 ? text : text.substr(at + 1);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string{"killed by signal "} + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  return "stopped";
}

bool tcp_accepts(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace stampede::shop
