// The one trim of the code base (common/text.h).
#include "common/text.h"

#include <gtest/gtest.h>

namespace stampede {
namespace {

TEST(trim, strips_white_space_or_the_given_characters_at_both_ends) {
  static_assert(trim("  a b \t\r\n") == "a b");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \t\n\r\f\v"), "");
  EXPECT_EQ(trim("x"), "x");
  EXPECT_EQ(trim("\vx y\f"), "x y");
  EXPECT_EQ(trim(" \tvalue\t ", " \t"), "value");
  EXPECT_EQ(trim("\r\nvalue", " \t"), "\r\nvalue");  // only the given characters
  EXPECT_EQ(trim("==abc==", "="), "abc");
}

}  // namespace
}  // namespace stampede
