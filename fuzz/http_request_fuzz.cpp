// Fuzzes request_parser (what every server of ours reads) with hostile bytes: pipelined requests fed in
// fuzzer-chosen pieces must parse the same however they arrive (see http_stream.h for the properties).
#include <cstddef>
#include <cstdint>

#include "common/http_parse.h"
#include "fuzz/http_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using stampede::http::request_parser;
  stampede::fuzzing::check_split_invariance(
      data, size, [] { return request_parser(stampede::fuzzing::k_stream_limits); },
      [](request_parser& p) { p.reset(); });
  return 0;
}
