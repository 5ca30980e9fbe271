// A worker's per-second snapshot (loadgen/metrics.h: interval_snapshot) as JSON, for the agent -> coordinator
// stream of a distributed run (docs/DISTRIBUTED.md). Histograms travel in their own V2 compressed encoding
// (base64), so the coordinator's merge of them is exact.
//
// Carried: the steps (corrected histogram, requests, errors, statuses; HTTP sub-metrics by tag set are
// `tagged` steps), errors by kind, iterations, dropped iterations, checks, iteration durations, VUs, the
// event-loop lag, and the second's samples of the script's custom metrics and of the tracked built-in
// sub-metrics (every field of their sinks, trends as histograms): every threshold can be judged live.
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
