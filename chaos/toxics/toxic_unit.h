// One toxic as it acts on one connection: the unit of the fault catalogue (one file per type in
// chaos/toxics/, each unit-tested alone in tests/chaos/toxics/). The connection pump knows only this
// interface; which toxics exist, and what each does to the bytes, lives in the units.
//
// A unit is created when its toxic becomes active on a connection (after the per-connection toxicity
// roll) and holds that connection's state for it: one unit per direction for stream toxics, one per
// connection for connection and request toxics. Units are owned by shared_ptr in the connection's
// immutable pipeline snapshots (see connection.h for the lifetime rule). Every hook is synchronous and
// returns a value: a unit never suspends, and nobody keeps a reference to a unit across a suspension.
//
// Thread-safety: a unit belongs to one connection's strand; it is never used from two threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "chaos/rng.h"
#include "chaos/toxic.h"

namespace stampede::chaos::toxics {

using steady = std::chrono::steady_clock;

// Where a toxic acts: on the bytes of one direction, on the connection as a whole, or on HTTP requests.
enum class scope { stream, connection, request };

// The chunk at the head of one direction's queue, as the stream toxics see it before the next write.
struct head {
  uint64_t seq = 0;               // chunk number in this direction (1, 2, ...): per-chunk decisions
  size_t size = 0;                // bytes in the chunk (0 for the end of the stream)
  size_t offset = 0;              // bytes of it already written
  steady::time_point received{};  // when the proxy read it: delays count from here (as Toxiproxy)
  steady::duration delay{0};      // latency added by the toxics before this one (latencies add up)
  size_t write_limit = SIZE_MAX;  // size of the next write; a toxic may only lower it (never to 0)

  size_t remaining() const noexcept { return size - offset; }
};

// What a toxic wants done with the head chunk (or, for deadlines, with the connection).
struct verdict {
  enum class action { pass, wait, drop, close, reset };
  action what = action::pass;
  steady::time_point until{};  // wait: until then, or until the toxics change (max() = only then)

  static verdict pass() noexcept { return {}; }
  static verdict wait(steady::time_point t) noexcept { return {action::wait, t}; }
  static verdict drop() noexcept { return {action::drop, {}}; }
  static verdict close() noexcept { return {action::close, {}}; }  // FIN both ways
  static verdict reset() noexcept { return {action::reset, {}}; }  // RST both ways (SO_LINGER 0)
  bool passes() const noexcept { return what == action::pass; }
};

// A fault decided for one HTTP request (request toxics only).
struct request_fault {
  enum class kind { abort, delay };
  kind what = kind::delay;
  steady::duration delay{0};  // delay: hold the request this long
  int status = 0;             // abort: answer with this status...
  std::string body;           // ...and body (empty: the reason phrase)
  std::string toxic;          // abort: the toxic's name (X-Stampede-Fault header)
};

// Where units report injections; the connection adds proxy, toxic, type and connection id.
class reporter {
 public:
  virtual void record(const toxic_spec& toxic, std::string_view direction, uint64_t request,
                      std::string detail) = 0;

 protected:
  ~reporter() = default;
};

// Passed to every hook: the time of the decision and the injection log.
struct env {
  steady::time_point now;
  reporter& log;
};

// What a unit is created with.
struct unit_context {
  std::shared_ptr<const toxic_spec> spec;        // shared by every connection (one version of the toxic)
  std::string direction;                         // "upstream", "downstream" (stream) or "connection"
  uint64_t seed = 0;                             // this toxic's randomness on this connection (and direction)
  steady::time_point activated{};                // when the toxic became active on the connection
  steady::time_point connection_start{};         // when the connection was accepted
  std::shared_ptr<std::atomic<int64_t>> budget;  // request toxics: first_n used, shared across connections
};

class toxic_unit {
 public:
  explicit toxic_unit(unit_context context) : ctx_(std::move(context)) {}
  virtual ~toxic_unit() = default;
  toxic_unit(const toxic_unit&) = delete;
  toxic_unit& operator=(const toxic_unit&) = delete;

  const toxic_spec& spec() const noexcept { return *ctx_.spec; }
  // The toxic version this unit was made for (its identity: one object per version).
  const std::shared_ptr<const toxic_spec>& version() const noexcept { return ctx_.spec; }

  // Stream toxics, in pipeline order (chaos/toxics/catalogue.h: rank). on_data may lower
  // h.write_limit, add to h.delay, or stop the chunk; on_written follows every write of the head
  // chunk's bytes (h already advanced); on_eof is asked before the end of the stream is passed on.
  virtual verdict on_data(head& /*h*/, const env& /*e*/) { return verdict::pass(); }
  virtual verdict on_written(const head& /*h*/, size_t /*bytes*/, const env& /*e*/) {
    return verdict::pass();
  }
  virtual verdict on_eof(const head& /*h*/, const env& /*e*/) { return verdict::pass(); }

  // A time at which the toxic acts on the whole connection (then on_deadline says how).
  virtual std::optional<steady::time_point> deadline() const { return std::nullopt; }
  virtual verdict on_deadline(const env& /*e*/) { return verdict::pass(); }
  // Connection toxics: how long to hold the upstream connect, counted from the accept.
  virtual steady::duration connect_delay(const env& /*e*/) { return steady::duration::zero(); }

  // Request toxics: the fault for request number `index` on this connection, if any.
  virtual std::optional<request_fault> on_request(std::string_view /*method*/, std::string_view /*target*/,
                                                  uint64_t /*index*/, const env& /*e*/) {
    return std::nullopt;
  }

  // Detail of the "active" injection logged when the toxic becomes active on a connection.
  virtual std::string activation_detail() const { return "active"; }
  // True when this toxic swallowed data: its removal must close the connection (the stream is corrupt).
  virtual bool stream_corrupt() const { return false; }
  // Called on the unit replacing `previous` (same toxic name, new version) on the same connection.
  virtual void inherit(const toxic_unit& /*previous*/) {}

 protected:
  void record(const env& e, std::string detail, uint64_t request = 0) const {
    e.log.record(spec(), ctx_.direction, request, std::move(detail));
  }
  const unit_context& context() const noexcept { return ctx_; }

 private:
  unit_context ctx_;
};

}  // namespace stampede::chaos::toxics
