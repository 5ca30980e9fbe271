// Process resource limits that a load tool runs into: open file descriptors (every connection is one).
// Every `stampede` command raises the soft RLIMIT_NOFILE to the hard limit at start (app/main.cpp; allowed
// without privileges); `run`, `shop`, `proxy` and `capacity` then check what they need and refuse or warn,
// with a clear message, when it cannot fit.
// Thread-safety: call at start-up, before other threads open descriptors.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace stampede {

struct fd_limits {
  uint64_t soft = 0;  // what applies now
  uint64_t hard = 0;  // how far an unprivileged process may raise it
};

// The current RLIMIT_NOFILE.
fd_limits current_fd_limits() noexcept;

// Raises the soft limit as far as allowed (the hard limit, capped by the kernel's fs.nr_open); never
// lowers it. Returns the limits in force afterwards. Failure to raise is not an error: the caller
// checks what it needs with check_fd_limit().
fd_limits raise_fd_limit() noexcept;

// Descriptors the process needs besides its connections (standard streams, epoll and eventfds per
// thread, the results file, SQLite, Lua's files...).
inline constexpr uint64_t fd_reserve = 64;

// Raises the limit if needed, then returns an empty string when `connections` + fd_reserve descriptors
// fit under the soft limit, else a message for the user naming `what` needs them, the numbers, and how
// to raise the limit (e.g. "stampede run: up to 5000 VUs need about 5064 open files, but RLIMIT_NOFILE
// is 1024 (hard limit 4096): raise the hard limit (ulimit -Hn as root, LimitNOFILE= in systemd) or use
// fewer"). Several threads per connection are not counted.
std::string check_fd_limit(uint64_t connections, std::string_view what);

}  // namespace stampede
