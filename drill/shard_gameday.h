// The drill's side of the shard game days (`stampede shop --shards K`, docs/DRILLS.md): the in-doubt sampler
// started on the shop's shards, and after the load results.drill.shards from it and the shop's audit
// (shard_outcomes.h). Internal to stampede::drill.
//
// Thread-safety: the owner's thread (the drill's).
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "drill/in_doubt_sampler.h"

namespace stampede::drill {

// A sampler on every shard of `topology` (the shop's topology JSON), or nullptr for an unsharded shop.
std::unique_ptr<in_doubt_sampler> in_doubt_sampler_for(const boost::json::object& topology);

// Stops `sampler`, reads the audit through HAProxy (`entry_port`, the admin token; bounded: 30 s) and returns
// results.drill.shards. `shop_args`: the shop's flags (its --txn-lease-ms, and --txn-hold-ms: a
// transaction is stuck when in doubt 1 s longer than the hold).
boost::json::object measure_shard_outcomes(in_doubt_sampler& sampler, const boost::json::object& topology,
                                           uint16_t entry_port, const std::string& token,
                                           const std::vector<std::string>& shop_args);

}  // namespace stampede::drill
