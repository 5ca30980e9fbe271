// `stampede --version` and `stampede version` print the version CMake's project() declares (the one
// version of the code base, generated into common/version.h), and nothing else.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "common/version.h"

namespace {

struct output {
  std::string text;
  int status = -1;
};

// Runs the real binary with one argument and captures its standard output.
output run(const std::string& argument) {
  const std::string command = std::string(STAMPEDE_BINARY) + " " + argument + " 2>/dev/null";
  output out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 256> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.text.append(buffer.data(), n);
  out.status = ::pclose(pipe);
  return out;
}

TEST(stampede_version, flag_and_command_print_the_cmake_project_version) {
  const std::string expected = std::string("stampede ") + STAMPEDE_CMAKE_VERSION + "\n";
  for (const char* argument : {"--version", "version"}) {
    const output out = run(argument);
    EXPECT_EQ(out.status, 0) << argument;
    EXPECT_EQ(out.text, expected) << argument;
  }
}

TEST(stampede_version, the_generated_header_is_the_cmake_project_version) {
  EXPECT_EQ(stampede::version, STAMPEDE_CMAKE_VERSION);
}

}  // namespace
