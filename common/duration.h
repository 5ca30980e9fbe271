// k6-style durations: "250ms", "10s", "2m", "1h30m", "1.5s", "500us", "0"; a bare number is seconds.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace stampede {

// nullopt for anything malformed, negative, or over 10 years.
std::optional<std::chrono::nanoseconds> try_parse_duration(std::string_view text) noexcept;
// Throws std::invalid_argument("invalid duration 'TEXT' (expected e.g. 250ms, 10s, 2m, 1h30m)").
std::chrono::nanoseconds parse_duration(std::string_view text);
// Shortest readable form: "250ms", "10s", "1m30s", "1h", "1.5s".
std::string format_duration(std::chrono::nanoseconds duration);

}  // namespace stampede
