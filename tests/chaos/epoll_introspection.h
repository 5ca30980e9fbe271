// What /proc/self tells about the process's epoll instances, for the tests of the proxy's own epoll set
// and io loop (chaos/connection_epoll.cpp, chaos/io_loop.h).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace stampede::chaos::testing {

// The process's epoll instances ("anon_inode:[eventpoll]") by descriptor.
inline std::set<int> epoll_descriptor_set() {
  std::set<int> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code link_ec;
    if (std::filesystem::read_symlink(entry.path(), link_ec).string() == "anon_inode:[eventpoll]") {
      out.insert(std::atoi(entry.path().filename().c_str()));
    }
  }
  return out;
}

inline size_t epoll_descriptors() { return epoll_descriptor_set().size(); }

// The descriptors an epoll instance watches (its fdinfo's `tfd:` lines).
inline std::vector<int> watched_by(int epoll_fd) {
  std::vector<int> out;
  std::ifstream fdinfo("/proc/self/fdinfo/" + std::to_string(epoll_fd));
  std::string line;
  while (std::getline(fdinfo, line)) {
    if (line.rfind("tfd:", 0) == 0) out.push_back(std::atoi(line.c_str() + 4));
  }
  return out;
}

// With the own io loop: how many descriptors the loop's set watches (Asio's reactor, the wake-up
// eventfd and two sockets per connection with no toxic). The set is the epoll instance that watches
// another one (Asio's reactor); nullopt when no instance does, or several do.
inline std::optional<size_t> loop_set_watches() {
  const auto instances = epoll_descriptor_set();
  std::optional<size_t> found;
  for (int e : instances) {
    const auto watched = watched_by(e);
    bool nests = false;
    for (int w : watched) nests = nests || (w != e && instances.contains(w));
    if (!nests) continue;
    if (found) return std::nullopt;
    found = watched.size();
  }
  return found;
}

}  // namespace stampede::chaos::testing
