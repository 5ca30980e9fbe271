// Small text helpers shared by the components.
// Thread-safety: pure functions.
#pragma once

#include <string_view>

namespace stampede {

// White space as C's isspace() in the "C" locale.
inline constexpr std::string_view ascii_whitespace = " \t\n\r\f\v";

// `text` without the leading and trailing characters that are in `chars` (ASCII white space by default;
// HTTP's optional white space is trim(value, " \t")).
constexpr std::string_view trim(std::string_view text, std::string_view chars = ascii_whitespace) noexcept {
  const size_t first = text.find_first_not_of(chars);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(chars) - first + 1);
}

}  // namespace stampede
