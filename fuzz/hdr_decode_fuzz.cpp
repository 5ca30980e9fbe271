// Fuzzes hdr_histogram::decode and decode_base64 with hostile bytes. Besides "no crash, no UB, bounded
// memory", checks that whatever decodes survives a re-encode/decode round trip unchanged and that the
// queries and the .hgrm printer run on it.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "common/hdr_histogram.h"

namespace {

void exercise(const stampede::hdr_histogram& h) {
  const auto again = stampede::hdr_histogram::decode(h.encode_compressed());
  if (!again || !(*again == h)) std::abort();  // our own encoding must always decode to the same thing
  if (h.value_at_percentile(100) != h.max() && h.total_count() > 0) std::abort();
  (void)h.value_at_percentile(99.9);
  (void)h.mean();
  (void)h.stddev();
  (void)h.fraction_at_or_below(h.max() / 2);
  if (h.total_count() < 1'000'000'000) (void)h.percentile_distribution(5, 1000.0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  if (const auto h = stampede::hdr_histogram::decode(bytes)) exercise(*h);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto h = stampede::hdr_histogram::decode_base64(text)) exercise(*h);
  return 0;
}
