// Fuzzes response_parser (what the load generator and the proxy read from servers) with hostile bytes:
// pipelined responses, to GET or to HEAD (no body), fed in fuzzer-chosen pieces, must parse the same
// however they arrive (see http_stream.h for the properties).
#include <cstddef>
#include <cstdint>

#include "common/http_parse.h"
#include "fuzz/http_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using stampede::http::response_parser;
  if (size < 1) return 0;
  const bool head = data[0] & 0x80;
  stampede::fuzzing::check_split_invariance(
      data + 1, size - 1,
      [head] {
        response_parser p(stampede::fuzzing::k_stream_limits);
        p.reset(head);
        return p;
      },
      [head](response_parser& p) { p.reset(head); });
  return 0;
}
