// Entry points of the reference shop's subcommands (dispatched by app/main.cpp). args[0] is the
// subcommand name. Each returns the process exit code (0 ok, 1 runtime failure, 2 usage error).
#pragma once

#include <span>

namespace stampede::shop {

// `stampede shop [seed] ...`: the supervisor (HAProxy + N shop nodes + payment emulator), or `shop seed`.
int shop_command(std::span<char* const> args);
// `stampede shop-node ...`: one shop node (normally started by the supervisor).
int shop_node_command(std::span<char* const> args);
// `stampede payment-emulator ...`: the payment gateway emulator.
int payment_emulator_command(std::span<char* const> args);

}  // namespace stampede::shop
