// Fuzzes response_parser with hostile bytes fed in fuzzer-chosen pieces, as pipelined messages, and
// checks the parser's promises: never consumes more than given, never grows past its limits, and a
// split of the input never changes the outcome.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "common/http_parse.h"

namespace {

using stampede::http::parse_error;
using stampede::http::parse_limits;
using stampede::http::response_parser;

struct outcome {
  std::string bodies;  // all complete bodies, separated
  parse_error error = parse_error::none;
  size_t messages = 0;
};

// Parses `wire` as a stream of responses, feeding at most `step` bytes at a time.
outcome run(std::string_view wire, size_t step, bool head) {
  const parse_limits limits{.max_header_bytes = 4096, .max_body_bytes = 1 << 16};
  response_parser p(limits);
  p.reset(head);
  outcome out;
  std::string_view rest = wire;
  while (!rest.empty() && out.messages < 64) {
    const size_t n = std::min(step, rest.size());
    const size_t used = p.feed(std::span<const char>(rest.data(), n));
    if (used > n) std::abort();
    rest.remove_prefix(used);
    if (p.error() != parse_error::none) {
      out.error = p.error();
      return out;
    }
    if (p.complete()) {
      if (p.body().size() > limits.max_body_bytes) std::abort();
      out.bodies += p.body();
      out.bodies += '\0';
      ++out.messages;
      p.reset(head);
    } else if (used < n) {
      std::abort();  // an incomplete message must take everything it is given
    }
  }
  if (rest.empty() && p.error() == parse_error::none) {
    p.on_eof();
    if (p.complete()) {
      out.bodies += p.body();
      ++out.messages;
    }
    out.error = p.error();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t step = 1 + data[0] % 37;
  const bool head = data[0] & 0x80;
  const std::string_view wire(reinterpret_cast<const char*>(data + 1), size - 1);
  const outcome whole = run(wire, wire.size() + 1, head);
  const outcome split = run(wire, step, head);
  // Framing and content must not depend on how the bytes arrive (errors may be classified at a
  // different point only for limits, so compare when both succeed).
  if (whole.error == parse_error::none && split.error == parse_error::none &&
      (whole.bodies != split.bodies || whole.messages != split.messages)) {
    std::abort();
  }
  return 0;
}
