// http.batch of the scenario API: several requests of one VU in flight at once, on the same engine and
// the same event loop as a single request (no thread, nothing blocks). Each request is its own
// http_job; the VU yields once and is resumed with every response, in the order given, when the last
// one completed. Parallelism is bounded as k6's options.batch (requests of one batch in flight) and
// options.batchPerHost (of them, to one origin); the others wait in the batch, in order.
//
// Thread-safety: none; a batch belongs to one VU on its worker's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "loadgen/http_engine.h"
#include "loadgen/request.h"
#include "loadgen/url.h"

namespace stampede::loadgen {

struct vu;

// One request of a batch: its own typed request, URL (the VU's one-entry cache serves single requests)
// and job.
struct batch_item final : http_job {
  batch_item(vu& v, size_t position) : owner(v), index(position) {}
  void on_complete() override;

  vu& owner;
  size_t index;          // its place in the batch (and in the responses)
  http_request request;  // request.url points to `url`
  parsed_url url;
  std::string url_text;  // as the script gave it (res.url)
  std::string origin;    // "http://host:port": what batchPerHost bounds
  std::string invalid;   // not "": never sent (a bad URL); the response carries this error
  bool started = false;
  bool done = false;
};

struct http_batch {
  std::vector<std::unique_ptr<batch_item>> items;
  std::unordered_map<std::string, int64_t> per_origin;  // requests in flight per origin
  int64_t in_flight = 0;
  size_t remaining = 0;                    // items not done yet
  steady::time_point started;              // the call: every request's intended send time
  std::chrono::nanoseconds lag_before{0};  // the VU's lag at the call (coordinated omission)
  int64_t max_blocked_us = 0;              // the longest wait for a pooled connection: harness lag

  void clear() {
    items.clear();
    per_origin.clear();
    in_flight = 0;
    remaining = 0;
    max_blocked_us = 0;
  }
};

}  // namespace stampede::loadgen
