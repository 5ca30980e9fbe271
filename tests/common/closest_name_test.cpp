// The one "did you mean" of the code base (common/closest_name.h), on typos with known answers.
#include "common/closest_name.h"

#include <gtest/gtest.h>

#include <array>
#include <string_view>

namespace stampede {
namespace {

using namespace std::string_view_literals;

TEST(edit_distance, counts_insertions_deletions_substitutions_and_adjacent_swaps) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("json", "json"), 0u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("header", "headers"), 1u);   // insertion
  EXPECT_EQ(edit_distance("headers", "header"), 1u);   // deletion
  EXPECT_EQ(edit_distance("vuz", "vus"), 1u);          // substitution
  EXPECT_EQ(edit_distance("jsno", "json"), 1u);        // adjacent swap
  EXPECT_EQ(edit_distance("Timeout", "timeout"), 0u);  // case is ignored
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("expectedStatus", "expectedStatuses"), 2u);
}

TEST(closest_name, suggests_a_near_name_and_nothing_for_a_far_one) {
  constexpr std::array<std::string_view, 5> names = {"headers", "json", "body", "expectedStatuses",
                                                     "timeout"};
  EXPECT_EQ(closest_name("jsno", names), "json"sv);
  EXPECT_EQ(closest_name("header", names), "headers"sv);
  EXPECT_EQ(closest_name("expectedStatus", names), "expectedStatuses"sv);
  EXPECT_EQ(closest_name("TimeOut", names), "timeout"sv);
  EXPECT_FALSE(closest_name("redirects", names).has_value());
  EXPECT_FALSE(closest_name("x", names).has_value());  // one letter is no typo of anything
  EXPECT_FALSE(closest_name("", names).has_value());
  EXPECT_FALSE(closest_name("json", std::span<const std::string_view>{}).has_value());
  EXPECT_EQ(did_you_mean("jsno", names), " (did you mean 'json'?)");
  EXPECT_EQ(did_you_mean("redirects", names), "");
}

TEST(closest_name, ties_go_to_the_first_candidate) {
  constexpr std::array<std::string_view, 2> names = {"vus", "vu2"};
  EXPECT_EQ(closest_name("vu", names), "vus"sv);
}

}  // namespace
}  // namespace stampede
