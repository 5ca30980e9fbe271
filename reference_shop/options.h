// The command-line tables of the shop's subcommands (`stampede shop`, `shop-node`, `payment-emulator`) on
// the one command-line layer (common/cli_args.h). The node's tuning flags are declared once and taken by
// both `stampede shop` (which passes them to every node unchanged) and `shop-node`.
#pragma once

#include <span>

#include "common/cli_args.h"

namespace stampede::shop {

// What the options readers take (cache_tier.cpp, the supervisor's and the node's option parsing).
using arg_list = cli::parsed_args;

// Node flags that `stampede shop` passes through to each node unchanged.
std::span<const cli::flag> node_tuning_flags();

const cli::command& shop_spec();      // stampede shop, stampede shop seed
const cli::command& node_spec();      // stampede shop-node
const cli::command& emulator_spec();  // stampede payment-emulator

}  // namespace stampede::shop
