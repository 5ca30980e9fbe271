// A `stampede` stand-in for the multi-process tests that only carries the shop's subcommands, so those
// tests do not depend on every other component building. Same dispatch as app/main.cpp.
#include <cstdio>
#include <span>
#include <string_view>

#include "reference_shop/cli.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s shop|shop-node|payment-emulator ...\n", argv[0]);
    return 2;
  }
  const std::string_view name = argv[1];
  const std::span<char* const> args{argv + 1, static_cast<size_t>(argc - 1)};
  if (name == "shop") return stampede::shop::shop_command(args);
  if (name == "shop-node") return stampede::shop::shop_node_command(args);
  if (name == "payment-emulator") return stampede::shop::payment_emulator_command(args);
  std::fprintf(stderr, "unknown command %.*s\n", static_cast<int>(name.size()), name.data());
  return 2;
}
