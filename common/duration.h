// k6-style durations: "250ms", "10s", "2m", "1h30m", "1.5s", "500us", "0"; a bare number is seconds.
//
// Grammar (surrounding ASCII whitespace is ignored):
//   duration  -> number                       // bare number: seconds
//              | (number unit)+               // units strictly decreasing: "1h30m", "1m30.5s"
//   number    -> digit+ ("." digit+)?
//   unit      -> "h" | "m" | "s" | "ms" | "us" | "µs" | "μs"
// Nanosecond-exact: fractions are computed in integers and truncated below 1 ns. Units are case-sensitive
// ("1M" is rejected rather than guessed). "ns" is deliberately not a unit.
//
// Thread-safety: all functions are pure and may be called concurrently.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace stampede {

// The largest duration accepted by the parsers: 10 years of 365 days.
inline constexpr std::chrono::nanoseconds max_duration = std::chrono::hours(24 * 365 * 10);

// nullopt for anything malformed, negative, or over 10 years (max_duration).
std::optional<std::chrono::nanoseconds> try_parse_duration(std::string_view text) noexcept;
// Throws std::invalid_argument("invalid duration 'TEXT': REASON (expected e.g. 250ms, 10s, 2m, 1h30m)"),
// REASON naming the offending part, e.g. "unknown unit 'x'".
std::chrono::nanoseconds parse_duration(std::string_view text);
// Shortest readable form: "250ms", "10s", "1m30s", "1h", "1.5s"; zero components are left out ("1h5s"),
// sub-microsecond values use fractional microseconds ("0.001us"), zero is "0s", negatives get a leading
// '-'. For every d in [0, max_duration], parse_duration(format_duration(d)) == d.
std::string format_duration(std::chrono::nanoseconds duration);

}  // namespace stampede
