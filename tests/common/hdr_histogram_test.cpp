#include "common/hdr_histogram.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace stampede {
namespace {

// Produced by the Java reference implementation (HdrHistogram's tagged-Log.logV2.hlog test resource).
constexpr const char* reference_base64 =
    "HISTFAAAAEV42pNpmSzMwMCgyAABTBDKT4GBgdnNYMcCBvsPEBEJISEuATEZMQ4uASkhIR4nrxg9v2lMaxhvMekILGZkKmcCAEf2CsI"
    "=";

// Exact percentile by the rank rule, in integers so no rounding creeps in: the
// ceil(ppm / 10^6 * n)-th smallest sample (1-based), at least the first. ppm = percentile * 10^4.
int64_t exact_percentile(const std::vector<int64_t>& sorted, int64_t ppm) {
  const auto n = static_cast<int64_t>(sorted.size());
  const int64_t rank = std::max<int64_t>(1, (ppm * n + 999'999) / 1'000'000);
  return sorted[static_cast<size_t>(rank - 1)];
}

std::vector<uint8_t> zlib_inflate(std::span<const uint8_t> in) {
  std::vector<uint8_t> out(1 << 20);
  uLongf len = out.size();
  EXPECT_EQ(uncompress(out.data(), &len, in.data(), static_cast<uLong>(in.size())), Z_OK);
  out.resize(len);
  return out;
}

std::vector<uint8_t> zlib_deflate(std::span<const uint8_t> in) {
  uLongf len = compressBound(static_cast<uLong>(in.size()));
  std::vector<uint8_t> out(len);
  EXPECT_EQ(compress(out.data(), &len, in.data(), static_cast<uLong>(in.size())), Z_OK);
  out.resize(len);
  return out;
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
void put_be64(std::vector<uint8_t>& out, uint64_t v) {
  put_be32(out, static_cast<uint32_t>(v >> 32));
  put_be32(out, static_cast<uint32_t>(v));
}

// A hand-built V2 encoding (uncompressed), for malformed-input tests.
std::vector<uint8_t> v2_encoding(const std::vector<uint8_t>& payload, int64_t lowest = 1,
                                 int64_t highest = 1000, int32_t digits = 2,
                                 std::optional<int32_t> payload_len = std::nullopt) {
  std::vector<uint8_t> out;
  put_be32(out, 0x1c849313);
  put_be32(out, static_cast<uint32_t>(payload_len.value_or(static_cast<int32_t>(payload.size()))));
  put_be32(out, 0);
  put_be32(out, static_cast<uint32_t>(digits));
  put_be64(out, static_cast<uint64_t>(lowest));
  put_be64(out, static_cast<uint64_t>(highest));
  put_be64(out, 0x3ff0000000000000ULL);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<uint8_t> wrap_compressed(const std::vector<uint8_t>& encoding, uint32_t cookie = 0x1c849314) {
  const auto deflated = zlib_deflate(encoding);
  std::vector<uint8_t> out;
  put_be32(out, cookie);
  put_be32(out, static_cast<uint32_t>(deflated.size()));
  out.insert(out.end(), deflated.begin(), deflated.end());
  return out;
}

TEST(HdrHistogram, ConfigurationMatchesReferenceFootprints) {
  // Footprints computed by HdrHistogram_c's hdr_calculate_bucket_config (research 4.2).
  const hdr_histogram one_hour;  // defaults: 1 us .. 1 h, 3 digits
  EXPECT_EQ(one_hour.memory_bytes() - sizeof(hdr_histogram), 188'416u);
  const hdr_histogram wrk2(1, 24LL * 3600 * 1'000'000, 3);
  EXPECT_EQ(wrk2.memory_bytes() - sizeof(hdr_histogram), 229'376u);
  EXPECT_NE(wrk2.percentile_distribution().find("#[Buckets =           27, SubBuckets     =         2048]"),
            std::string::npos);
  // The research table's "1 ... 60 s" rows are in nanoseconds (6e10): 26 x 2048 and 29 x 256 buckets.
  const hdr_histogram sixty_s_ns(1, 60'000'000'000, 3);
  EXPECT_EQ(sixty_s_ns.memory_bytes() - sizeof(hdr_histogram), 221'184u);
  const hdr_histogram two_digits(1, 60'000'000'000, 2);
  EXPECT_EQ(two_digits.memory_bytes() - sizeof(hdr_histogram), 30'720u);
  const hdr_histogram four_digits(1, 60'000'000'000, 4);
  EXPECT_EQ(four_digits.memory_bytes() - sizeof(hdr_histogram), 3'014'656u);
}

TEST(HdrHistogram, RejectsInvalidConfiguration) {
  EXPECT_THROW(hdr_histogram(0, 100, 3), std::invalid_argument);
  EXPECT_THROW(hdr_histogram(10, 19, 3), std::invalid_argument);
  EXPECT_THROW(hdr_histogram(1, 100, 0), std::invalid_argument);
  EXPECT_THROW(hdr_histogram(1, 100, 6), std::invalid_argument);
  EXPECT_THROW(hdr_histogram(int64_t{1} << 60, INT64_MAX, 3), std::invalid_argument);  // unit + sub > 61
  EXPECT_NO_THROW(hdr_histogram(1, INT64_MAX, 3));
  EXPECT_NO_THROW(hdr_histogram(10, 20, 1));
}

TEST(HdrHistogram, EmptyHistogram) {
  const hdr_histogram h;
  EXPECT_EQ(h.total_count(), 0);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.stddev(), 0.0);
  EXPECT_EQ(h.value_at_percentile(50), 0);
  EXPECT_EQ(h.fraction_at_or_below(100), 0.0);
  EXPECT_TRUE(h.nonzero_buckets().empty());
}

TEST(HdrHistogram, EquivalentValueRanges) {
  const hdr_histogram h(1, 3'600'000'000, 3);
  // Values below 2048 have unit resolution; the next bucket has width 2, then 4, ...
  EXPECT_EQ(h.lowest_equivalent(2047), 2047);
  EXPECT_EQ(h.highest_equivalent(2047), 2047);
  EXPECT_EQ(h.lowest_equivalent(2049), 2048);
  EXPECT_EQ(h.highest_equivalent(2048), 2049);
  EXPECT_EQ(h.median_equivalent(2048), 2049);
  EXPECT_EQ(h.lowest_equivalent(10'007), 10'000);
  EXPECT_EQ(h.highest_equivalent(10'000), 10'007);
  EXPECT_TRUE(h.values_equivalent(10'000, 10'007));
  EXPECT_FALSE(h.values_equivalent(10'007, 10'008));
  // Unit resolution below 2048; above, a bucket's width stays within 10^-3 of its values.
  for (int64_t v = 1; v < 3'600'000'000; v = v * 3 + 1) {
    const int64_t width = h.highest_equivalent(v) - h.lowest_equivalent(v) + 1;
    if (v < 2048) {
      EXPECT_EQ(width, 1) << v;
    } else {
      EXPECT_LE(static_cast<double>(width) / static_cast<double>(h.lowest_equivalent(v)), 1e-3) << v;
    }
  }
  const hdr_histogram huge(1, INT64_MAX, 3);
  EXPECT_EQ(huge.highest_equivalent(INT64_MAX), INT64_MAX);  // saturates instead of overflowing
  EXPECT_LE(huge.lowest_equivalent(INT64_MAX), INT64_MAX);
  EXPECT_EQ(h.lowest_equivalent(-5), 0);
}

TEST(HdrHistogram, PercentilesMatchExactPercentilesOfRandomData) {
  std::mt19937_64 rng(20240601);
  std::lognormal_distribution<double> latency(8.0, 1.5);  // median ~3 ms in us, long tail
  hdr_histogram h;
  std::vector<int64_t> samples;
  for (int i = 0; i < 200'000; ++i) {
    const auto v = static_cast<int64_t>(latency(rng)) + 1;
    samples.push_back(v);
    h.record(v);
  }
  std::sort(samples.begin(), samples.end());
  EXPECT_EQ(h.total_count(), 200'000);
  for (const int64_t ppm : {1'000, 10'000, 100'000, 250'000, 500'000, 750'000, 900'000, 990'000, 999'000,
                            999'900, 999'990, 999'999, 1'000'000, 123'457, 876'543}) {
    const double p = static_cast<double>(ppm) / 1e4;
    const int64_t exact = exact_percentile(samples, ppm);
    const int64_t got = h.value_at_percentile(p);
    // HdrHistogram reports the top of the exact sample's bucket: never below it, within 0.1 % above.
    EXPECT_EQ(got, h.highest_equivalent(exact)) << "p" << p;
    EXPECT_GE(got, exact) << "p" << p;
    EXPECT_LE(static_cast<double>(got - exact), 1e-3 * static_cast<double>(exact)) << "p" << p;
  }
  EXPECT_EQ(h.value_at_percentile(0.0), h.lowest_equivalent(samples.front()));
  EXPECT_EQ(h.min(), h.lowest_equivalent(samples.front()));
  EXPECT_EQ(h.max(), h.highest_equivalent(samples.back()));
}

TEST(HdrHistogram, PercentileRankRoundsUpWithoutFloatingPointOvershoot) {
  hdr_histogram h(1, 100'000, 3);
  for (int64_t v = 1; v <= 1000; ++v) h.record(v);
  // 99.9 % of 1000 is 999.0000000000001 in double; the rank must stay 999.
  EXPECT_EQ(h.value_at_percentile(99.9), 999);
  EXPECT_EQ(h.value_at_percentile(50.0), 500);
  EXPECT_EQ(h.value_at_percentile(50.05), 501);
  EXPECT_EQ(h.value_at_percentile(100.0), 1000);
  EXPECT_EQ(h.value_at_percentile(250.0), 1000);  // clamped to 100
  EXPECT_EQ(h.value_at_percentile(-1.0), 1);
  EXPECT_EQ(h.value_at_percentile(std::nan("")), 1);
  EXPECT_DOUBLE_EQ(h.fraction_at_or_below(250), 0.25);
  EXPECT_DOUBLE_EQ(h.fraction_at_or_below(0), 0.0);
  EXPECT_DOUBLE_EQ(h.fraction_at_or_below(1'000'000), 1.0);
}

TEST(HdrHistogram, MinMaxMeanStddev) {
  hdr_histogram h(1, 3'600'000'000, 3);
  // Unit-resolution values: the statistics are exact.
  for (const int64_t v : {10, 20, 30, 40}) h.record(v);
  EXPECT_EQ(h.min(), 10);
  EXPECT_EQ(h.max(), 40);
  EXPECT_DOUBLE_EQ(h.mean(), 25.0);
  EXPECT_DOUBLE_EQ(h.stddev(), std::sqrt(125.0));  // population stddev of 10,20,30,40
  h.record_n(1000, 4);
  EXPECT_EQ(h.total_count(), 8);
  EXPECT_DOUBLE_EQ(h.mean(), (100.0 + 4000.0) / 8.0);

  // Large values: statistics use bucket medians, within the 3-digit precision.
  hdr_histogram big;
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> dist(1'000'000, 2'000'000);
  double sum = 0;
  double sum_sq = 0;
  std::vector<int64_t> values;
  for (int i = 0; i < 50'000; ++i) {
    const int64_t v = dist(rng);
    values.push_back(v);
    sum += static_cast<double>(v);
    big.record(v);
  }
  const double mean = sum / static_cast<double>(values.size());
  for (const auto v : values) sum_sq += (static_cast<double>(v) - mean) * (static_cast<double>(v) - mean);
  const double stddev = std::sqrt(sum_sq / static_cast<double>(values.size()));
  EXPECT_NEAR(big.mean(), mean, mean * 1e-3);
  EXPECT_NEAR(big.stddev(), stddev, stddev * 5e-3);
  EXPECT_EQ(big.min(), big.lowest_equivalent(*std::min_element(values.begin(), values.end())));
  EXPECT_EQ(big.max(), big.highest_equivalent(*std::max_element(values.begin(), values.end())));

  hdr_histogram zero;
  zero.record(0);
  zero.record(5);
  EXPECT_EQ(zero.min(), 0);
  EXPECT_EQ(zero.max(), 5);
}

TEST(HdrHistogram, ClampsOutOfRangeValues) {
  hdr_histogram h(1, 10'000, 3);
  h.record(50'000);
  h.record_n(10'001, 2);
  h.record(-7);
  EXPECT_EQ(h.total_count(), 4);
  EXPECT_EQ(h.clamped_count(), 3);
  EXPECT_EQ(h.max(), h.highest_equivalent(10'000));
  EXPECT_EQ(h.min(), 0);  // the negative value landed at 0
  EXPECT_EQ(h.value_at_percentile(100), h.highest_equivalent(10'000));
  EXPECT_EQ(h.value_at_percentile(25), 0);
  h.reset();
  EXPECT_EQ(h.total_count(), 0);
  EXPECT_EQ(h.clamped_count(), 0);
  EXPECT_EQ(h.max(), 0);
}

TEST(HdrHistogram, AddEqualsRecordingIntoOne) {
  std::mt19937_64 rng(42);
  std::exponential_distribution<double> dist(1.0 / 5000.0);
  hdr_histogram all;
  std::vector<hdr_histogram> parts(4);
  for (int i = 0; i < 100'000; ++i) {
    const auto v = static_cast<int64_t>(dist(rng));
    all.record(v);
    parts[static_cast<size_t>(i) % parts.size()].record(v);
  }
  parts[1].record(9'000'000'000);  // clamped in part 1
  all.record(9'000'000'000);
  hdr_histogram merged;
  for (const auto& part : parts) merged.add(part);
  EXPECT_EQ(merged, all);
  EXPECT_EQ(merged.clamped_count(), 1);
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_EQ(merged.value_at_percentile(99.9), all.value_at_percentile(99.9));
  EXPECT_EQ(merged.percentile_distribution(), all.percentile_distribution());

  // Merging decoded histograms (whose max sits at the top of its bucket) is exact too.
  hdr_histogram merged_decoded;
  for (const auto& part : parts) merged_decoded.add(*hdr_histogram::decode(part.encode_compressed()));
  EXPECT_EQ(merged_decoded, all);
}

TEST(HdrHistogram, AddAcrossConfigurationsReRecordsAtMedians) {
  hdr_histogram fine(1, 1'000'000, 3);
  for (int64_t v = 100; v <= 100'000; v += 100) fine.record(v);
  fine.record(900'000);
  hdr_histogram coarse(1, 200'000, 2);
  coarse.add(fine);
  EXPECT_EQ(coarse.total_count(), fine.total_count());
  EXPECT_EQ(coarse.clamped_count(), 1);  // 900'000 is above coarse's range
  EXPECT_EQ(coarse.max(), coarse.highest_equivalent(200'000));
  for (const double p : {10.0, 50.0, 90.0, 99.0}) {
    const auto a = static_cast<double>(fine.value_at_percentile(p));
    const auto b = static_cast<double>(coarse.value_at_percentile(p));
    EXPECT_NEAR(b, a, a * 0.02) << p;  // 2-digit precision
  }
}

TEST(HdrHistogram, NonzeroBuckets) {
  hdr_histogram h(1, 100'000, 3);
  h.record_n(5, 3);
  h.record(10'001);
  const auto buckets = h.nonzero_buckets();
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(buckets[0].value_from, 5);
  EXPECT_EQ(buckets[0].value_to, 5);
  EXPECT_EQ(buckets[0].count, 3);
  EXPECT_EQ(buckets[1].value_from, 10'000);
  EXPECT_EQ(buckets[1].value_to, 10'007);
  EXPECT_EQ(buckets[1].count, 1);
}

void expect_round_trip(const hdr_histogram& h) {
  const auto bytes = h.encode_compressed();
  ASSERT_GE(bytes.size(), 8u);
  EXPECT_EQ(bytes[0], 0x1c);
  EXPECT_EQ(bytes[3], 0x14);
  const auto decoded = hdr_histogram::decode(bytes);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, h);
  EXPECT_EQ(decoded->total_count(), h.total_count());
  EXPECT_EQ(decoded->min(), h.min());
  EXPECT_EQ(decoded->max(), h.max());
  EXPECT_EQ(decoded->percentile_distribution(), h.percentile_distribution());
  const auto text = h.encode_compressed_base64();
  EXPECT_EQ(text.rfind("HISTF", 0), 0u) << text;
  const auto from_text = hdr_histogram::decode_base64(text);
  ASSERT_TRUE(from_text.has_value());
  EXPECT_EQ(*from_text, h);
  EXPECT_EQ(from_text->encode_compressed(), bytes);  // re-encoding is stable
}

TEST(HdrHistogramEncoding, RoundTripEmpty) { expect_round_trip(hdr_histogram{}); }

TEST(HdrHistogramEncoding, RoundTripSingleValue) {
  hdr_histogram h;
  h.record(1234);
  expect_round_trip(h);
  hdr_histogram zero;
  zero.record(0);
  expect_round_trip(zero);
}

TEST(HdrHistogramEncoding, RoundTripHugeCounts) {
  hdr_histogram h(1, INT64_MAX, 3);
  h.record_n(1, int64_t{1} << 61);
  h.record_n(INT64_MAX, (int64_t{1} << 61) - 1);  // needs the 9-byte varint form
  h.record_n(int64_t{1} << 40, 123'456'789'012);
  expect_round_trip(h);
  const auto decoded = hdr_histogram::decode(h.encode_compressed());
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->max(), INT64_MAX);
}

TEST(HdrHistogramEncoding, RoundTripSparseAndDense) {
  hdr_histogram sparse(1, 3'600'000'000, 3);
  for (int64_t v = 1; v < 3'600'000'000; v *= 7) sparse.record(v);
  expect_round_trip(sparse);

  hdr_histogram dense(1, 3'600'000'000, 3);
  std::mt19937_64 rng(99);
  std::uniform_int_distribution<int64_t> dist(0, 200'000);
  for (int i = 0; i < 300'000; ++i) dense.record(dist(rng));
  expect_round_trip(dense);

  for (int digits = 1; digits <= 5; ++digits) {
    hdr_histogram h(1000, 60'000'000'000, digits);
    for (int64_t v = 1; v < 60'000'000'000; v = v * 2 + 3) h.record(v);
    expect_round_trip(h);
  }
}

TEST(HdrHistogramEncoding, LayoutFollowsTheV2Format) {
  hdr_histogram h(1, 10'000, 2);
  h.record(3);
  h.record_n(4, 300);
  h.record(100);
  const auto bytes = h.encode_compressed();
  const uint32_t length =
      (uint32_t{bytes[4]} << 24) | (uint32_t{bytes[5]} << 16) | (uint32_t{bytes[6]} << 8) | bytes[7];
  ASSERT_EQ(length, bytes.size() - 8);
  const auto inner = zlib_inflate(std::span(bytes).subspan(8));
  std::vector<uint8_t> expected_header;
  put_be32(expected_header, 0x1c849313);
  put_be32(expected_header, static_cast<uint32_t>(inner.size() - 40));
  put_be32(expected_header, 0);
  put_be32(expected_header, 2);
  put_be64(expected_header, 1);
  put_be64(expected_header, 10'000);
  put_be64(expected_header, 0x3ff0000000000000ULL);  // 1.0
  ASSERT_GE(inner.size(), 40u);
  EXPECT_EQ(std::vector<uint8_t>(inner.begin(), inner.begin() + 40), expected_header);
  // counts[0..2] empty -> run of 3 (-3 zigzags to 5); 1 -> 2; 300 -> zigzag 600 = 0xd8 0x04;
  // 95 empty buckets -> -95 zigzags to 189 = 0xbd 0x01; count 1 -> 2.
  const std::vector<uint8_t> payload(inner.begin() + 40, inner.end());
  EXPECT_EQ(payload, (std::vector<uint8_t>{0x05, 0x02, 0xd8, 0x04, 0xbd, 0x01, 0x02}));
}

TEST(HdrHistogramEncoding, DecodesReferenceJavaHistogram) {
  const auto h = hdr_histogram::decode_base64(reference_base64);
  ASSERT_TRUE(h.has_value());
  const auto buckets = h->nonzero_buckets();
  ASSERT_FALSE(buckets.empty());
  int64_t sum = 0;
  for (const auto& b : buckets) {
    EXPECT_GT(b.count, 0);
    EXPECT_LE(b.value_from, b.value_to);
    sum += b.count;
  }
  EXPECT_EQ(sum, h->total_count());
  EXPECT_GT(h->total_count(), 0);
  EXPECT_EQ(h->min(), buckets.front().value_from);
  EXPECT_EQ(h->max(), buckets.back().value_to);
  EXPECT_EQ(h->value_at_percentile(100), h->max());
  EXPECT_EQ(h->value_at_percentile(0), h->min());
  EXPECT_LE(h->value_at_percentile(50), h->value_at_percentile(90));
  EXPECT_GE(h->mean(), static_cast<double>(h->min()));
  EXPECT_LE(h->mean(), static_cast<double>(h->max()));
  // The log line says Interval_Max 2.769 ms (jHiccup records ns, max ratio 1e6).
  EXPECT_NEAR(static_cast<double>(h->max()) / 1e6, 2.769, 0.01);
  // Decoding our own re-encoding of it gives the same histogram.
  const auto again = hdr_histogram::decode(h->encode_compressed());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *h);
}

TEST(HdrHistogramEncoding, DecodesV2WithoutCompressionAndLegacyV1) {
  // Counts: index 1 -> 7, index 5 -> 2. V2: [0, 7, -3, 2] zigzag -> 0x00 0x0e 0x05 0x04.
  const auto v2 = v2_encoding({0x00, 0x0e, 0x05, 0x04});
  const auto plain = hdr_histogram::decode(v2);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->total_count(), 9);
  EXPECT_EQ(plain->min(), 1);
  EXPECT_EQ(plain->max(), 5);
  const auto compressed = hdr_histogram::decode(wrap_compressed(v2));
  ASSERT_TRUE(compressed.has_value());
  EXPECT_EQ(*compressed, *plain);

  // V1: 40-byte header, then big-endian 8-byte words (cookie word-size nibble 8 -> 0x1c849381).
  std::vector<uint8_t> v1;
  put_be32(v1, 0x1c849381);
  put_be32(v1, 6 * 8);
  put_be32(v1, 0);
  put_be32(v1, 2);
  put_be64(v1, 1);
  put_be64(v1, 1000);
  put_be64(v1, 0x3ff0000000000000ULL);
  for (const int64_t c : {0, 7, 0, 0, 0, 2}) put_be64(v1, static_cast<uint64_t>(c));
  const auto legacy = hdr_histogram::decode(wrap_compressed(v1, 0x1c849302));
  ASSERT_TRUE(legacy.has_value());
  EXPECT_EQ(*legacy, *plain);
}

TEST(HdrHistogramEncoding, RejectsMalformedInput) {
  const auto good = v2_encoding({0x00, 0x0e, 0x05, 0x04});
  ASSERT_TRUE(hdr_histogram::decode(wrap_compressed(good)));

  EXPECT_FALSE(hdr_histogram::decode(std::vector<uint8_t>{}));
  EXPECT_FALSE(hdr_histogram::decode(std::vector<uint8_t>{0x1c, 0x84}));
  EXPECT_FALSE(hdr_histogram::decode(std::vector<uint8_t>{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0}));  // cookie
  EXPECT_FALSE(hdr_histogram::decode_base64("not base64!"));
  EXPECT_FALSE(hdr_histogram::decode_base64("HISTF"));         // 5 chars: a lone sextet
  EXPECT_FALSE(hdr_histogram::decode_base64("HIST=FAA"));      // padding in the middle
  EXPECT_FALSE(hdr_histogram::decode_base64("HISTFAAAAA=="));  // truncated wrapper
  EXPECT_FALSE(hdr_histogram::decode_base64(""));

  auto truncated = wrap_compressed(good);
  truncated.resize(truncated.size() - 3);  // compressed length now exceeds the data
  EXPECT_FALSE(hdr_histogram::decode(truncated));
  auto short_length = wrap_compressed(good);
  short_length[7] = static_cast<uint8_t>(short_length[7] - 4);  // deflate stream cut short
  EXPECT_FALSE(hdr_histogram::decode(short_length));
  auto corrupt = wrap_compressed(good);
  corrupt[corrupt.size() - 1] ^= 0xff;  // adler32 mismatch
  EXPECT_FALSE(hdr_histogram::decode(corrupt));
  auto negative_length = wrap_compressed(good);
  negative_length[4] = 0x80;
  EXPECT_FALSE(hdr_histogram::decode(negative_length));

  EXPECT_FALSE(hdr_histogram::decode(wrap_compressed(good, 0x1c849302)));              // V1 wrapper around V2
  EXPECT_FALSE(hdr_histogram::decode(wrap_compressed(v2_encoding({0x02}, 0, 1000))));  // lowest 0
  EXPECT_FALSE(hdr_histogram::decode(wrap_compressed(v2_encoding({0x02}, 10, 15))));   // highest < 2 * lowest
  EXPECT_FALSE(hdr_histogram::decode(wrap_compressed(v2_encoding({0x02}, 1, 1000, 9))));     // digits
  EXPECT_FALSE(hdr_histogram::decode(wrap_compressed(v2_encoding({0x02}, 1, 1000, 2, 5))));  // payload len
  EXPECT_FALSE(hdr_histogram::decode(wrap_compressed(v2_encoding({0x02}, 1, 1000, 2, -1))));
  EXPECT_FALSE(hdr_histogram::decode(wrap_compressed(v2_encoding({0x02}, 1, 1000, 2, 0))));  // trailing data
  // A varint cut short at the end of the payload.
  EXPECT_FALSE(hdr_histogram::decode(wrap_compressed(v2_encoding({0x02, 0x80}))));
  // A zero run beyond the counts array (1..1000 at 2 digits has 1024 counts).
  EXPECT_FALSE(hdr_histogram::decode(wrap_compressed(v2_encoding({0xff, 0x7f}))));  // -8192 zeros
  // INT64_MIN as a zero run: 9-byte varint of zigzag 2^64-1.
  EXPECT_FALSE(hdr_histogram::decode(
      wrap_compressed(v2_encoding({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))));
  // Counts whose sum overflows int64.
  const std::vector<uint8_t> max_count = {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  std::vector<uint8_t> two_max = max_count;
  two_max.insert(two_max.end(), max_count.begin(), max_count.end());
  EXPECT_TRUE(hdr_histogram::decode(wrap_compressed(v2_encoding(max_count))));
  EXPECT_FALSE(hdr_histogram::decode(wrap_compressed(v2_encoding(two_max))));
  // More counts than the configuration has buckets.
  EXPECT_FALSE(hdr_histogram::decode(wrap_compressed(v2_encoding(std::vector<uint8_t>(1025, 0x02)))));
  // A configuration beyond 64 MiB of counts is refused before anything is allocated for it... there is
  // none in range (1..INT64_MAX at 5 digits is ~50 MB), so check the largest one still decodes.
  EXPECT_TRUE(hdr_histogram::decode(wrap_compressed(v2_encoding({0x02}, 1, INT64_MAX, 5))));
}

TEST(HdrHistogramEncoding, ZlibBombIsBounded) {
  // A header that claims a tiny payload followed by megabytes of zeros must be refused after
  // inflating at most the claimed payload, not after inflating everything.
  auto payload = std::vector<uint8_t>(8 << 20, 0x00);
  const auto bomb = wrap_compressed(v2_encoding(payload, 1, 1000, 2, 4));
  EXPECT_LT(bomb.size(), 64u * 1024);
  EXPECT_FALSE(hdr_histogram::decode(bomb));
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(HdrHistogramText, PercentileDistributionStructure) {
  hdr_histogram h(1, 3'600'000'000, 3);
  for (int64_t v = 1; v <= 10'000; ++v) h.record(v * 100);  // 100 us .. 1 s uniform
  const auto text = h.percentile_distribution(5, 1000.0);
  const auto lines = lines_of(text);
  ASSERT_GT(lines.size(), 10u);
  EXPECT_EQ(lines[0], "       Value   Percentile   TotalCount 1/(1-Percentile)");
  EXPECT_EQ(lines[1], "");
  // First line: percentile 0 reports the first bucket.
  EXPECT_EQ(lines[2], "       0.100     0.000000            1         1.00");
  EXPECT_EQ(lines[3], "     100.031     0.100000         1000         1.11");
  EXPECT_EQ(lines[4], "     200.063     0.200000         2000         1.25");
  // The tail halves with 5 ticks per half: 50 %, 55 %, 60 %, 65 %, 70 %, 75 %, 77.5 %...
  EXPECT_NE(text.find("     0.775000 "), std::string::npos);
  EXPECT_NE(text.find("     0.968750 "), std::string::npos);
  const auto last_line = lines[lines.size() - 4];
  EXPECT_EQ(last_line, "    1000.447     1.000000        10000          inf");
  EXPECT_EQ(lines[lines.size() - 3], "#[Mean    =      500.052, StdDeviation   =      288.675]");
  EXPECT_EQ(lines[lines.size() - 2], "#[Max     =     1000.447, Total count    =        10000]");
  EXPECT_EQ(lines[lines.size() - 1], "#[Buckets =           22, SubBuckets     =         2048]");
  EXPECT_EQ(text.back(), '\n');
  // 69 percentile lines plus header and footer (the Java reference iterates the same 69 levels).
  EXPECT_EQ(lines.size(), 2u + 69u + 3u);
  EXPECT_EQ(lines[lines.size() - 5], "    1000.447     0.999902        10000     10240.00");
}

TEST(HdrHistogramText, EmptyAndTicks) {
  const hdr_histogram empty;
  const auto lines = lines_of(empty.percentile_distribution());
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[2], "       0.000     1.000000            0          inf");
  hdr_histogram h;
  for (int64_t v = 1; v <= 1000; ++v) h.record(v);
  const auto fine = lines_of(h.percentile_distribution(10, 1.0)).size();
  const auto coarse = lines_of(h.percentile_distribution(1, 1.0)).size();
  EXPECT_GT(fine, coarse);
  EXPECT_LT(lines_of(h.percentile_distribution(1'000'000, 1.0)).size(), 200'000u);  // ticks are clamped
}

}  // namespace
}  // namespace stampede
