// HdrHistogram: constant-time recording of integer values (we record microseconds) with a fixed
// number of significant decimal digits, bounded memory, exact merging, and the standard
// HdrHistogram V2 compressed encoding (the `HISTF...` base64 strings of .hlog files).
//
// Thread-safety: none. One histogram per thread on the hot path; merge with add() off the hot path.
#pragma once

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
  // negative values are recorded as 0. O(1), never allocates.
  void record(int64_t value) noexcept { record_n(value, 1); }
  void record_n(int64_t value, int64_t count) noexcept;

  // Adds every count of `other`. Exact when both have the same configuration; otherwise each of other's
  // values is re-recorded (clamped) at its bucket's median equivalent value.
  void add(const hdr_histogram& other);
  void reset() noexcept;

  int64_t total_count() const noexcept { return total_count_; }
  int64_t clamped_count() const noexcept { return clamped_count_; }
  int64_t min() const noexcept;  // 0 when empty
  int64_t max() const noexcept;  // 0 when empty; highest equivalent value of the max bucket
  double mean() const noexcept;
  double stddev() const noexcept;
  // percentile in [0, 100]; returns the highest equivalent value of the bucket holding that rank
  // (the HdrHistogram convention), 0 when empty.
  int64_t value_at_percentile(double percentile) const noexcept;
  // Fraction of recorded values <= value, in [0, 1].
  double fraction_at_or_below(int64_t value) const noexcept;

  int64_t lowest_discernible() const noexcept { return lowest_discernible_; }
  int64_t highest_trackable() const noexcept { return highest_trackable_; }
  int significant_digits() const noexcept { return significant_digits_; }
  size_t memory_bytes() const noexcept { return counts_.size() * sizeof(int64_t) + sizeof(*this); }

  // Equivalent-value helpers (exposed for iteration and tests).
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
  // Decode V2 compressed or uncompressed data (V0/V1 cookies too). Returns nullopt on any malformed input
  // (never crashes, bounded memory: refuses configurations needing more than 64 MiB of counts).
  static std::optional<hdr_histogram> decode(std::span<const uint8_t> bytes);
  static std::optional<hdr_histogram> decode_base64(std::string_view text);

  // The percentile distribution text that HdrHistogram and wrk2 print (the ".hgrm" format), with
  // `ticks_per_half_distance` lines per halving of the remaining tail and values divided by
  // `value_scale` (1000.0 prints microseconds as milliseconds).
  std::string percentile_distribution(int ticks_per_half_distance = 5, double value_scale = 1000.0) const;

  friend bool operator==(const hdr_histogram& a, const hdr_histogram& b);

 private:
  size_t counts_index_for(int64_t value) const noexcept;
  int64_t value_from_index(size_t index) const noexcept;

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

}  // namespace stampede
