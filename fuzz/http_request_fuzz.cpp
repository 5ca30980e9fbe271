// Fuzzes request_parser (what every server of ours reads) with hostile bytes: pipelined requests fed in
// fuzzer-chosen pieces must parse the same however they arrive (see http_stream.h for the properties).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/http_parse.h"
#include "fuzz/http_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using stampede::http::request_parser;
  namespace fz = stampede::fuzzing;
  fz::check_split_invariance(data, size, [](std::string_view wire, size_t step, size_t first) {
    request_parser parser(fz::k_stream_limits);
    return fz::parse_stream(
        parser, wire, step, first, [](request_parser& p) { p.reset(); },
        [](request_parser& p) {
          return std::string(p.method()) + ' ' + std::string(p.target()) + ' ' + std::to_string(p.version()) +
                 (p.keep_alive() ? " keep-alive\n" : " close\n") + p.headers().raw + '\n' + p.body();
        });
  });
  return 0;
}
