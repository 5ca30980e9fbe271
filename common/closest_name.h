// "Did you mean ...?" for names a user typed: options, request parameters, flags. One edit distance
// for the whole code base (optimal string alignment: insertions, deletions, substitutions and swaps of
// two adjacent characters, each counting 1; case is ignored).
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace stampede {

// Edits between a and b, case-insensitively ("jsno" -> "json" is 1, "header" -> "headers" is 1).
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `word`, if near enough to be a likely typo: at most max(2, |word| / 3)
// edits and fewer edits than `word` has characters. Ties go to the earlier candidate.
std::optional<std::string_view> closest_name(std::string_view word,
                                             std::span<const std::string_view> candidates);

// " (did you mean 'NAME'?)" for the closest candidate, or "" when none is close.
std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace stampede
