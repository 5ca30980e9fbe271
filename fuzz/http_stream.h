// The differential property both HTTP parser fuzzers check: how bytes arrive must not change what is
// parsed. A stream of pipelined messages is parsed three ways (whole; in small pieces; in one piece of
// fuzzer-chosen length, then the rest in one large read, as a busy socket delivers it), and the parser's
// promises are checked on the way: it never consumes more than it is given, an incomplete message takes
// everything, no body exceeds the limit. If the whole stream parses, the other two must parse to the same
// messages; a stream that fails may fail at a different point when split, so failures are not compared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "common/http_parse.h"

namespace stampede::fuzzing {

struct stream_outcome {
  std::string messages_seen;  // every complete message as described by the fuzzer, each followed by '\0'
  http::parse_error error = http::parse_error::none;
  size_t messages = 0;
};

inline constexpr http::parse_limits k_stream_limits{.max_header_bytes = 4096, .max_body_bytes = 1 << 16};

// Feeds `wire` to `parser`: `first` bytes (if not 0), then at most `step` bytes at a time. `reset(parser)`
// readies it for the next message; `describe(parser)` renders a complete message (all it parsed).
template <class Parser, class Reset, class Describe>
stream_outcome parse_stream(Parser& parser, std::string_view wire, size_t step, size_t first, Reset reset,
                            Describe describe) {
  stream_outcome out;
  std::string_view rest = wire;
  while (!rest.empty() && out.messages < 64) {
    const size_t n = std::min(first != 0 ? std::exchange(first, 0) : step, rest.size());
    const size_t used = parser.feed(std::span<const char>(rest.data(), n));
    if (used > n) std::abort();
    rest.remove_prefix(used);
    if (parser.error() != http::parse_error::none) {
      out.error = parser.error();
      return out;
    }
    if (parser.complete()) {
      if (parser.body().size() > k_stream_limits.max_body_bytes) std::abort();
      out.messages_seen += describe(parser);
      out.messages_seen += '\0';
      ++out.messages;
      reset(parser);
    } else if (used < n) {
      std::abort();  // an incomplete message must take everything it is given
    }
  }
  // End of stream: only a message that has begun sees it (a close-delimited body ends here; anything
  // else is cut short). A stream that ends between messages is simply done.
  if (rest.empty() && parser.error() == http::parse_error::none && parser.wire_bytes() > 0) {
    parser.on_eof();
    if (parser.complete()) {
      out.messages_seen += describe(parser);
      out.messages_seen += '\0';
      ++out.messages;
    }
    out.error = parser.error();
  }
  return out;
}

inline bool operator==(const stream_outcome& a, const stream_outcome& b) {
  return a.messages_seen == b.messages_seen && a.error == b.error && a.messages == b.messages;
}

// Input layout: [step selector][first-piece length, 2 bytes big-endian][wire bytes...].
// `run(step, first)` parses the wire with a fresh parser (see parse_stream) and returns the outcome;
// the fuzzer passes a lambda so that it can compare parser configurations too.
template <class Run>
void check_split_invariance(const uint8_t* data, size_t size, Run run) {
  if (size < 3) return;
  const size_t step = 1 + data[0] % 37;
  const std::string_view wire(reinterpret_cast<const char*>(data + 3), size - 3);
  const size_t first = 1 + (size_t{data[1]} << 8 | data[2]) % (wire.size() + 1);
  const stream_outcome whole = run(wire, wire.size() + 1, 0);
  const stream_outcome small = run(wire, step, 0);
  const stream_outcome split = run(wire, wire.size() + 1, first);
  if (whole.error != http::parse_error::none) return;  // failures may surface at different points
  if (!(small == whole) || !(split == whole)) std::abort();
}

}  // namespace stampede::fuzzing
