// A request's Cookie header ("a=1; b=2") read pair by pair: one parser for the server's request::cookie
// and tests/support's test server, which echoes every cookie back.
#pragma once

#include <string_view>

namespace stampede::http {

// Calls visit(name, value) for each name=value pair of a Cookie header, in order (a pair without '=' is
// skipped); stops early when visit returns true.
template <class Visit>
void for_each_cookie(std::string_view header, Visit&& visit) {
  std::string_view rest = header;
  while (!rest.empty()) {
    const size_t semi = rest.find(';');
    std::string_view pair = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && visit(pair.substr(0, eq), pair.substr(eq + 1))) return;
  }
}

}  // namespace stampede::http
