// http.batch in the worker (http_batch.h): the requests of one VU's batch go to the engine as far as
// options.batch and options.batchPerHost allow; each completion is recorded on its own and frees a
// place for the next waiting request; the last one resumes the VU with every response, in order.
#include <algorithm>
#include <boost/asio/post.hpp>
#include <lua.hpp>

#include "loadgen/lua_runtime.h"
#include "loadgen/vu.h"
#include "loadgen/worker.h"

namespace stampede::loadgen {

namespace {
int64_t micros(steady::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}
}  // namespace

void batch_item::on_complete() { owner.owner.on_batch_item_complete(*this); }

void worker::start_batch(vu& v) {
  http_batch& b = *v.batch;
  b.started = steady::now();
  b.lag_before = v.lag;
  b.remaining = 0;
  for (const auto& item : b.items) {
    if (item->invalid.empty()) {
      ++b.remaining;
    } else {
      item->done = true;
    }
  }
  v.state = vu_state::waiting_http;
  v.yielded_in_iteration = true;
  if (b.remaining == 0) {  // nothing to send: answer after the yield, never from inside the call
    boost::asio::post(*io_, [this, &v] {
      if (!v.interrupted && v.state == vu_state::waiting_http) finish_batch(v);
    });
    return;
  }
  pump_batch(v);
}

// Starts waiting requests, in order, while the batch's bounds allow; one whose origin is full waits
// without holding up later requests to other origins.
void worker::pump_batch(vu& v) {
  http_batch& b = *v.batch;
  const int64_t limit = plan_.options.batch;
  const int64_t per_host = plan_.options.batch_per_host;
  for (const auto& item : b.items) {
    if (limit > 0 && b.in_flight >= limit) return;
    if (item->started || item->done) continue;
    int64_t& to_origin = b.per_origin[item->origin];
    if (per_host > 0 && to_origin >= per_host) continue;
    ++to_origin;
    ++b.in_flight;
    item->started = true;
    // Written now, not at the call: cookies set by an earlier response of the batch go along.
    item->request.write_to(*item, plan_.options.user_agent, v.cookies);
    http_->submit(item->url, *item);
  }
}

void worker::on_batch_item_complete(batch_item& item) {
  vu& v = item.owner;
  item.done = true;
  if (v.interrupted || v.state != vu_state::waiting_http || !v.batch) return;
  http_batch& b = *v.batch;
  --b.in_flight;
  --b.per_origin[item.origin];
  --b.remaining;
  http_outcome& out = item.outcome;
  // Coordinated omission as for a single request, from the batch's call, the intended send time of
  // every request: the wait inside the batch (its bounds) is part of `blocked`, as the wait for a
  // pooled connection is, and both count in the corrected latency with the VU's earlier lag.
  const int64_t pool_wait_us = out.timings.blocked;
  out.timings.blocked += std::max<int64_t>(0, micros(item.submitted_at - b.started));
  const int64_t corrected_us = out.timings.total + out.timings.blocked + micros(b.lag_before);
  b.max_blocked_us = std::max(b.max_blocked_us, pool_wait_us);
  item.request.settle(out, v.cookies);
  metrics_.record_request(item.request.step, scenario_slot(v), corrected_us, out.timings, out.status,
                          out.error);
  if (!metrics_.tagged_steps().empty()) record_request_tags(v, item.request, out, item.url_text, corrected_us);
  metrics_.data_sent += out.bytes_sent;
  metrics_.data_received += out.bytes_received;
  if (b.remaining == 0) return finish_batch(v);
  pump_batch(v);
}

void worker::finish_batch(vu& v) {
  // The requests ran side by side: the longest wait for a connection delayed the rest of the iteration.
  v.lag += std::chrono::microseconds(v.batch->max_blocked_us);
  v.state = vu_state::running;
  lua_->push_batch_responses(v);
  resume(v, 1);
}

void worker::abort_requests(vu& v) {
  if (v.batch && !v.batch->items.empty() && v.batch->remaining > 0) {
    for (const auto& item : v.batch->items) {
      if (item->started && !item->done) http_->abort(*item);
    }
    return;
  }
  http_->abort(v);
}

}  // namespace stampede::loadgen
