// `proxy_test_cli proxy ...` = `stampede proxy ...`, linked against stampede::chaos only, so that the
// CLI test does not need every component built (sanitizer builds of one component stay small).
#include <span>

#include "chaos/cli.h"

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  return stampede::chaos::proxy_command(std::span<char* const>(argv + 1, static_cast<size_t>(argc - 1)));
}
