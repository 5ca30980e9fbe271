// A worker's per-second snapshot (loadgen/metrics.h: interval_snapshot) as JSON, for the agent -> coordinator
// stream of a distributed run (docs/DISTRIBUTED.md). Histograms travel in their own V2 compressed encoding
// (base64), so the coordinator's merge of them is exact.
//
// Carried: the steps (corrected histogram, requests, errors, statuses), errors by kind, iterations, dropped
// iterations, checks, iteration durations, VUs and the event-loop lag. Not carried (yet): the script's custom
// metrics and the built-in sub-metrics of the second; thresholds on those are judged on the merged results
// at the end, not live.
//
// Thread-safety: pure functions.
#pragma once

#include <boost/json/value.hpp>

#include "loadgen/metrics.h"

namespace stampede::distributed {

boost::json::value snapshot_to_json(const loadgen::interval_snapshot& snapshot);
// Throws std::invalid_argument naming the field that is missing or malformed.
loadgen::interval_snapshot snapshot_from_json(const boost::json::value& json);

}  // namespace stampede::distributed
