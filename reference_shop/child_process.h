// Child processes of the shop's supervisor: fork + exec with PR_SET_PDEATHSIG=SIGKILL, a ready pipe on
// which the child reports its port, and status texts. Called from the supervisor's one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace stampede::shop {

// This binary's path (/proc/self/exe); throws std::runtime_error.
std::string self_exe();

// fork + exec with the parent's death signal set and a clean signal mask. `ready_fd` >= 0: the child's
// end of a pipe, passed as fd 3. Returns the pid; throws std::runtime_error if fork fails.
pid_t spawn(const std::string& program, const std::vector<std::string>& argv, int ready_fd,
            const std::vector<std::pair<std::string, std::string>>& env);

// The account a database server runs as: the `postgres` user when this process is root (PostgreSQL
// refuses to run as root), this process's own otherwise; nullopt when root and there is no such user.
struct server_account {
  uid_t uid = 0;
  gid_t gid = 0;
};
std::optional<server_account> postgres_account();

// A server process: fork; stdin /dev/null, stdout and stderr appended to `log`; `account` set (root only):
// the log is handed to it and the child drops to it, nullptr: this process's user; the parent's death
// sends `death_signal`; a clean signal mask; cwd `cwd` unless empty; exec `program` with `argv` and `env`
// ("NAME=value"; nullptr: this process's environment). Exit 126: the credentials or cwd could not be set;
// 127: exec failed or the parent died first. Throws std::runtime_error when the log cannot be opened or
// fork fails.
pid_t spawn_as(const server_account* account, const std::string& program, const std::vector<std::string>& argv,
               const std::filesystem::path& cwd, const std::filesystem::path& log, int death_signal,
               const std::vector<std::string>* env = nullptr);

// Reads "PORT\n" from a child's ready pipe within the deadline; throws std::runtime_error naming `what`.
uint16_t wait_ready(int fd, const std::string& what, std::chrono::milliseconds timeout);

// Waits until `pid` exits (polling; the status, or 0 when someone else reaped it); nullopt at the deadline.
std::optional<int> wait_exit(pid_t pid, std::chrono::steady_clock::time_point deadline);

// The last `lines` lines of a log file (from its last 4 KiB), "(no log)" when it cannot be read.
std::string log_tail(const std::filesystem::path& file, size_t lines);

// "exited with status 1", "killed by signal 9 (Killed)".
std::string describe_status(int status);

// Whether something accepts TCP connections on 127.0.0.1:port.
bool tcp_accepts(uint16_t port);

}  // namespace stampede::shop
