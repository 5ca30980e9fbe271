// The message a call throws as std::invalid_argument, for tests of what a bad input is told.
#pragma once

#include <stdexcept>
#include <string>

namespace stampede::testing {

// The message `fn` throws as std::invalid_argument, or "" when it does not throw.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace stampede::testing
