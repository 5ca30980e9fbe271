// Fuzzes response_parser (what the load generator and the proxy read from servers) with hostile bytes:
// pipelined responses, to GET or to HEAD (no body), fed in fuzzer-chosen pieces, must parse the same
// however they arrive (see http_stream.h), and the fast path for plain responses must give exactly what
// Beast's parser alone gives: same messages, same error, at every split.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/http_parse.h"
#include "fuzz/http_stream.h"

namespace {

namespace fz = stampede::fuzzing;
using stampede::http::response_parser;

fz::stream_outcome run(std::string_view wire, size_t step, size_t first, bool head, bool fast) {
  response_parser parser(fz::k_stream_limits);
  parser.set_fast_path(fast);
  parser.reset(head);
  return fz::parse_stream(
      parser, wire, step, first, [head](response_parser& p) { p.reset(head); },
      [](response_parser& p) {
        return std::to_string(p.status()) + (p.keep_alive() ? " keep-alive" : " close") +
               (p.chunked() ? " chunked\n" : "\n") + p.headers().raw + '\n' + p.body();
      });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool head = data[0] & 0x80;
  fz::check_split_invariance(data + 1, size - 1, [head](std::string_view wire, size_t step, size_t first) {
    const fz::stream_outcome fast = run(wire, step, first, head, true);
    if (!(fast == run(wire, step, first, head, false))) std::abort();  // the fast path changed a result
    return fast;
  });
  return 0;
}
