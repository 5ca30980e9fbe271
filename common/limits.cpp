#include "common/limits.h"

#include <sys/resource.h>

#include <algorithm>
#include <fstream>

namespace stampede {

namespace {

// Linux refuses a RLIMIT_NOFILE above fs.nr_open (EPERM), even when the hard limit is "unlimited".
uint64_t kernel_nr_open() {
  std::ifstream in("/proc/sys/fs/nr_open");
  uint64_t value = 0;
  if (in >> value && value > 0) return value;
  return 1024 * 1024;
}

uint64_t as_count(rlim_t value) {
  return value == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(value);
}

}  // namespace

fd_limits current_fd_limits() noexcept {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return {};
  return {as_count(rl.rlim_cur), as_count(rl.rlim_max)};
}

fd_limits raise_fd_limit() noexcept {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return {};
  uint64_t target = as_count(rl.rlim_max);
  try {
    target = std::min(target, kernel_nr_open());
  } catch (...) {
    target = std::min<uint64_t>(target, 1024 * 1024);
  }
  if (target > as_count(rl.rlim_cur)) {
    rlimit raised = rl;
    raised.rlim_cur = static_cast<rlim_t>(target);
    ::setrlimit(RLIMIT_NOFILE, &raised);  // failure leaves the old limit, which current_fd_limits reports
  }
  return current_fd_limits();
}

std::string check_fd_limit(uint64_t connections, std::string_view what) {
  const uint64_t needed = connections + fd_reserve;
  fd_limits limits = current_fd_limits();
  if (limits.soft < needed) limits = raise_fd_limit();
  if (limits.soft >= needed) return {};
  std::string message(what);
  message += " need about " + std::to_string(needed) + " open files, but RLIMIT_NOFILE is " +
             std::to_string(limits.soft) + " (hard limit " +
             (limits.hard == UINT64_MAX ? std::string("unlimited") : std::to_string(limits.hard)) + "): ";
  message += limits.soft < limits.hard ? "the soft limit could not be raised; "
                                       : "raise the hard limit (ulimit -Hn as root, LimitNOFILE= in systemd, "
                                         "nofile in /etc/security/limits.conf) or ";
  message += "use fewer";
  return message;
}

}  // namespace stampede
