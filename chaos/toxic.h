// Toxic = one fault attached to a proxy: a type, a direction, a probability and typed attributes.
// The catalogue (what each type does, which attributes it reads, its probability unit) is in
// docs/CHAOS.md. Values here are plain data: copy them freely; no thread-safety concerns.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace stampede::chaos {

enum class toxic_type {
  latency,      // delay every chunk by latency (+ jitter / distribution)
  bandwidth,    // cap throughput at rate KB/s; rate 0 = hold all data (explicit stall, logged)
  slow_close,   // on EOF, wait delay ms before forwarding the close
  timeout,      // black hole: drop data, close after timeout ms (0 = until removed)
  reset_peer,   // on first data, wait timeout ms, then close both sides with RST
  slicer,       // split chunks into ~average_size pieces, delay us between pieces
  limit_data,   // forward `bytes` bytes (per connection, per direction), then close
  limit_time,   // close (or reset) the connection `time` ms after it (or the toxic) started
  slow_open,    // delay the upstream connect (and so all traffic) by delay ms
  packet_loss,  // drop whole read chunks with probability (burst model via correlation)
  http_abort,   // answer matching HTTP requests with `status` instead of forwarding them
  http_delay,   // hold matching HTTP requests for delay ms before forwarding them
};

enum class stream_direction { upstream, downstream, both };

enum class latency_distribution { uniform, normal, lognormal, pareto };

std::string_view to_string(toxic_type) noexcept;
std::string_view to_string(stream_direction) noexcept;
std::string_view to_string(latency_distribution) noexcept;
std::optional<toxic_type> parse_toxic_type(std::string_view) noexcept;
std::optional<stream_direction> parse_stream(std::string_view) noexcept;
std::optional<latency_distribution> parse_distribution(std::string_view) noexcept;

// True for the toxics that work on HTTP/1.1 request boundaries (probability rolled per request).
constexpr bool is_http_toxic(toxic_type t) noexcept {
  return t == toxic_type::http_abort || t == toxic_type::http_delay;
}
// True for the toxics that act on the connection as a whole (the stream only labels them).
constexpr bool is_connection_toxic(toxic_type t) noexcept {
  return t == toxic_type::limit_time || t == toxic_type::slow_open;
}

// One toxic. Attribute names match the JSON attribute names of the control API; each type reads
// only its own (see docs/CHAOS.md). Times are milliseconds unless noted.
struct toxic_spec {
  std::string name;                              // default "<type>_<stream>"
  toxic_type type = toxic_type::latency;
  stream_direction stream = stream_direction::downstream;
  double toxicity = 1.0;                         // probability 0..1: per connection (TCP) / per request (HTTP)

  // latency
  int64_t latency = 0;
  int64_t jitter = 0;                            // uniform: +-jitter; normal: standard deviation
  latency_distribution distribution = latency_distribution::uniform;
  double sigma = 0.5;                            // lognormal: shape (median = latency)
  double alpha = 2.0;                            // pareto: shape (minimum = latency)
  int64_t max_latency = 0;                       // cap for heavy tails; 0 = 60 s
  // bandwidth
  int64_t rate = 0;                              // KB/s (1 KB = 1000 bytes, as Toxiproxy)
  // slow_close, slow_open, http_delay: ms; slicer: microseconds (as Toxiproxy)
  int64_t delay = 0;
  // timeout, reset_peer
  int64_t timeout = 0;
  // slicer
  int64_t average_size = 0;
  int64_t size_variation = 0;
  // limit_data
  int64_t bytes = 0;
  // limit_time
  int64_t time = 0;
  bool reset = false;                            // limit_time: RST instead of FIN
  // packet_loss
  double probability = 0.0;                      // per chunk
  double correlation = 0.0;                      // 0..1: chance the next chunk repeats the last decision
  // http_abort / http_delay: request matching
  std::string method;                            // empty = any
  std::string path;                              // empty = any; '*'/'?' = glob, else prefix
  int64_t first_n = 0;                           // > 0: only the first N matching requests (then pass)
  int status = 503;                              // http_abort
  std::string body;                              // http_abort response body (default: reason text)

  // Fills defaults (name) and checks ranges. Throws invalid_toxic with a message naming the field.
  void validate_and_normalize();
};

class invalid_toxic : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Matches `path` of a request target (query ignored) against a toxic's path pattern.
bool path_matches(std::string_view pattern, std::string_view target) noexcept;

}  // namespace stampede::chaos
