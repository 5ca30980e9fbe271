// HdrHistogram: constant-time recording of integer values (we record microseconds) with a fixed
// number of significant decimal digits, bounded memory, exact merging, and the standard
// HdrHistogram V2 compressed encoding (the `HISTF...` base64 strings of .hlog files).
//
// Thread-safety: none. One histogram per thread on the hot path; merge with add() off the hot path.
#pragma once

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stampede {

class hdr_histogram {
 public:
  // lowest_discernible >= 1, highest_trackable >= 2 * lowest_discernible, significant_digits in [1, 5].
  // Throws std::invalid_argument otherwise. Defaults: 1 us .. 1 h at 3 significant digits.
  explicit hdr_histogram(int64_t lowest_discernible = 1, int64_t highest_trackable = 3'600'000'000,
                         int significant_digits = 3);

  // Records a value; values above highest_trackable are clamped to it (and counted in clamped_count()),
  // negative values are recorded as 0. O(1), never allocates, no data-dependent branches. count >= 1
  // (a total above INT64_MAX is the caller's bug, as in every HdrHistogram).
  void record(int64_t value) noexcept { record_n(value, 1); }
  void record_n(int64_t value, int64_t count) noexcept;

  // Adds every count of `other`. Exact when both have the same configuration; otherwise each of other's
  // values is re-recorded (clamped) at its bucket's median equivalent value. clamped_count() grows by
  // other's clamped_count() plus whatever is clamped here.
  void add(const hdr_histogram& other);
  void reset() noexcept;

  int64_t total_count() const noexcept { return total_count_; }
  int64_t clamped_count() const noexcept { return clamped_count_; }
  int64_t min() const noexcept;  // 0 when empty; lowest equivalent value of the min bucket
  int64_t max() const noexcept;  // 0 when empty; highest equivalent value of the max bucket
  // Mean and population standard deviation over bucket median values (as HdrHistogram); 0 when empty.
  double mean() const noexcept;
  double stddev() const noexcept;
  // percentile in [0, 100]; returns the highest equivalent value of the bucket holding that rank
  // (the HdrHistogram convention: rank = max(1, ceil(percentile / 100 * total_count)), with one ulp of
  // slack against floating-point round-up, as Java and hdr-histogram-js); percentile 0 returns the
  // lowest equivalent value of the first bucket instead. 0 when empty.
  int64_t value_at_percentile(double percentile) const noexcept;
  // Fraction of recorded values in buckets at or below value's bucket, in [0, 1]; 0 when empty.
  double fraction_at_or_below(int64_t value) const noexcept;

  int64_t lowest_discernible() const noexcept { return lowest_discernible_; }
  int64_t highest_trackable() const noexcept { return highest_trackable_; }
  int significant_digits() const noexcept { return significant_digits_; }
  size_t memory_bytes() const noexcept { return counts_.size() * sizeof(int64_t) + sizeof(*this); }

  // Equivalent-value helpers (exposed for iteration and tests). Negative values are treated as 0;
  // highest_equivalent saturates at INT64_MAX.
  int64_t lowest_equivalent(int64_t value) const noexcept;
  int64_t highest_equivalent(int64_t value) const noexcept;
  int64_t median_equivalent(int64_t value) const noexcept;
  bool values_equivalent(int64_t a, int64_t b) const noexcept;

  // Every non-empty bucket in increasing value order: value_from..value_to (inclusive), count.
  struct bucket {
    int64_t value_from;
    int64_t value_to;
    int64_t count;
  };
  std::vector<bucket> nonzero_buckets() const;

  // Standard V2 compressed encoding (cookie 0x1c849314 + zlib of the V2 payload), and its base64 form.
  std::vector<uint8_t> encode_compressed() const;
  std::string encode_compressed_base64() const;
  // The encoding writes normalizingIndexOffset 0 and integerToDoubleValueConversionRatio 1.0, and encodes
  // a single empty bucket as the count 0 and longer empty runs as -N (as Java and hdr-histogram-js do).
  // clamped_count() is not part of the format.
  // Decode V2 compressed or uncompressed data (V0/V1 cookies too). Returns nullopt on any malformed input
  // (never crashes, bounded memory: refuses configurations needing more than 64 MiB of counts, and never
  // inflates more than the header's configuration can need). The header's normalizingIndexOffset and
  // conversion ratio are ignored: counts are read in logical order, as Java writes them.
  // decode_base64 accepts the standard alphabet with or without padding, surrounding whitespace trimmed.
  static std::optional<hdr_histogram> decode(std::span<const uint8_t> bytes);
  static std::optional<hdr_histogram> decode_base64(std::string_view text);

  // The percentile distribution text that HdrHistogram and wrk2 print (the ".hgrm" format), with
  // `ticks_per_half_distance` lines per halving of the remaining tail and values divided by
  // `value_scale` (1000.0 prints microseconds as milliseconds).
  // Byte-identical to HdrHistogram_c's hdr_percentiles_print(..., CLASSIC) for non-empty histograms with
  // total counts below 2^31 (C prints the count with %d); an empty histogram prints mean and stddev 0
  // where C prints nan. ticks_per_half_distance is clamped to [1, 1000] to bound the output.
  std::string percentile_distribution(int ticks_per_half_distance = 5, double value_scale = 1000.0) const;

  // Same configuration and the same count in every bucket (clamped_count() is not compared).
  friend bool operator==(const hdr_histogram& a, const hdr_histogram& b);

 private:
  struct layout {
    int unit_magnitude;
    int sub_bucket_half_count_magnitude;
    int32_t bucket_count;
    size_t counts_len;
  };
  // nullopt when the configuration is out of range (the constructor throws for those).
  static std::optional<layout> compute_layout(int64_t lowest_discernible, int64_t highest_trackable,
                                              int significant_digits) noexcept;
  friend struct hdr_codec;  // decoding lives in the .cpp and fills counts_ directly

  size_t counts_index_for(int64_t value) const noexcept;
  int64_t value_from_index(size_t index) const noexcept;
  int64_t size_of_equivalent_range(int64_t value) const noexcept;
  size_t max_index() const noexcept { return counts_index_for(max_value_); }
  void recompute_min_max(size_t highest_nonzero_index) noexcept;

  int64_t lowest_discernible_;
  int64_t highest_trackable_;
  int significant_digits_;
  int unit_magnitude_ = 0;
  int sub_bucket_half_count_magnitude_ = 0;
  int32_t sub_bucket_count_ = 0;
  int32_t sub_bucket_half_count_ = 0;
  int64_t sub_bucket_mask_ = 0;
  int32_t bucket_count_ = 0;
  int64_t total_count_ = 0;
  int64_t clamped_count_ = 0;
  int64_t min_nonzero_value_ = INT64_MAX;
  int64_t max_value_ = 0;
  std::vector<int64_t> counts_;
};

// The hot path is inline so that a recording loop compiles to a handful of instructions.
inline size_t hdr_histogram::counts_index_for(int64_t value) const noexcept {
  // value | mask keeps the count of leading zeros below 64 and puts small values in bucket 0.
  const auto v = static_cast<uint64_t>(value);
  const int pow2_ceiling = 64 - std::countl_zero(v | static_cast<uint64_t>(sub_bucket_mask_));
  const int bucket_index = pow2_ceiling - unit_magnitude_ - (sub_bucket_half_count_magnitude_ + 1);
  const auto sub_bucket_index = static_cast<size_t>(v >> (bucket_index + unit_magnitude_));
  return (static_cast<size_t>(bucket_index + 1) << sub_bucket_half_count_magnitude_) + sub_bucket_index -
         static_cast<size_t>(sub_bucket_half_count_);
}

inline void hdr_histogram::record_n(int64_t value, int64_t count) noexcept {
  assert(count > 0);
  // Conditional moves, not branches: the clamps cost the same whatever the value.
  clamped_count_ += value > highest_trackable_ ? count : 0;
  value = std::clamp<int64_t>(value, 0, highest_trackable_);
  counts_[counts_index_for(value)] += count;
  total_count_ += count;
  max_value_ = std::max(max_value_, value);
  min_nonzero_value_ = std::min(min_nonzero_value_, value == 0 ? INT64_MAX : value);
}

}  // namespace stampede
