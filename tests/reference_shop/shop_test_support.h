// Helpers shared by the reference shop's tests: temporary directories and bounded waits.
#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include "tests/support/child_process.h"

namespace stampede::shop::testing {

// A fresh directory under $TMPDIR (tests/support's), removed with everything in it at scope exit.
class temp_dir : public ::stampede::testing::temp_dir {
 public:
  temp_dir() : ::stampede::testing::temp_dir("stampede-shop") {}
  std::string file(const std::string& name) const { return (path() / name).string(); }
};

// Polls `condition` until it holds or `timeout` passes; returns whether it held. For asynchronous
// effects (payment workers, child processes) whose completion has no event to wait on.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return condition();
}

}  // namespace stampede::shop::testing
