// Fuzzes the control API's JSON readers (toxic and proxy list) and the HTTP path matcher: hostile
// bytes must give a chaos_error, never a crash, hang or unvalidated toxic; what the API writes back for
// an accepted toxic must read back as the same toxic.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "chaos/api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace stampede::chaos;
  try {
    toxic_spec t = parse_toxic(text);
    toxic_spec copy = t;
    copy.validate_and_normalize();  // whatever parse_toxic accepted must be valid
    // What the API writes reads back as the same toxic (numbers in shortest round-trip decimal, #11.3).
    const std::string written = to_json(t);
    try {
      if (to_json(parse_toxic(written)) != written) __builtin_trap();
    } catch (const chaos_error&) {
      __builtin_trap();
    }
    (void)parse_toxic(text, &t);    // update semantics on the same body
  } catch (const chaos_error&) {
  }
  try {
    (void)parse_proxy_list(text);
  } catch (const chaos_error&) {
  }
  const size_t split = size / 2;
  (void)path_matches(text.substr(0, split), text.substr(split));
  return 0;
}
