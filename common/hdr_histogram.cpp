// HdrHistogram: layout, recording (the hot path is inline in the header), merging and queries. The
// serial formats (encode, decode, base64) are in hdr_histogram_codec.cpp.
#include "common/hdr_histogram.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace stampede {

std::optional<hdr_histogram::layout> hdr_histogram::compute_layout(int64_t lowest_discernible,
                                                                   int64_t highest_trackable,
                                                                   int significant_digits) noexcept {
  if (lowest_discernible < 1 || significant_digits < 1 || significant_digits > 5 ||
      highest_trackable / 2 < lowest_discernible) {
    return std::nullopt;
  }
  // Sub-buckets: the smallest power of two >= 2 * 10^digits gives single-unit resolution up to there.
  int64_t single_unit_limit = 2;
  for (int i = 0; i < significant_digits; ++i) single_unit_limit *= 10;
  const int sub_bucket_count_magnitude = std::bit_width(static_cast<uint64_t>(single_unit_limit - 1));
  layout out{};
  out.sub_bucket_half_count_magnitude = std::max(sub_bucket_count_magnitude, 1) - 1;
  out.unit_magnitude = std::bit_width(static_cast<uint64_t>(lowest_discernible)) - 1;
  if (out.unit_magnitude + out.sub_bucket_half_count_magnitude > 61) return std::nullopt;
  const int64_t sub_bucket_count = int64_t{1} << (out.sub_bucket_half_count_magnitude + 1);
  int64_t smallest_untrackable = sub_bucket_count << out.unit_magnitude;
  int32_t buckets = 1;
  while (smallest_untrackable <= highest_trackable) {
    if (smallest_untrackable > std::numeric_limits<int64_t>::max() / 2) {
      ++buckets;
      break;
    }
    smallest_untrackable <<= 1;
    ++buckets;
  }
  out.bucket_count = buckets;
  out.counts_len = static_cast<size_t>(buckets + 1) * static_cast<size_t>(sub_bucket_count / 2);
  return out;
}

hdr_histogram::hdr_histogram(int64_t lowest_discernible, int64_t highest_trackable, int significant_digits)
    : lowest_discernible_(lowest_discernible),
      highest_trackable_(highest_trackable),
      significant_digits_(significant_digits) {
  const auto l = compute_layout(lowest_discernible, highest_trackable, significant_digits);
  if (!l) {
    throw std::invalid_argument(
        "hdr_histogram: need lowest_discernible >= 1, highest_trackable >= 2 * lowest_discernible and "
        "significant_digits in [1, 5] (lowest " +
        std::to_string(lowest_discernible) + ", highest " + std::to_string(highest_trackable) + ", digits " +
        std::to_string(significant_digits) + ")");
  }
  unit_magnitude_ = l->unit_magnitude;
  sub_bucket_half_count_magnitude_ = l->sub_bucket_half_count_magnitude;
  sub_bucket_count_ = int32_t{1} << (sub_bucket_half_count_magnitude_ + 1);
  sub_bucket_half_count_ = sub_bucket_count_ / 2;
  sub_bucket_mask_ = (int64_t{sub_bucket_count_} - 1) << unit_magnitude_;
  bucket_count_ = l->bucket_count;
  counts_.assign(l->counts_len, 0);
}

int64_t hdr_histogram::value_from_index(size_t index) const noexcept {
  int bucket_index = static_cast<int>(index >> sub_bucket_half_count_magnitude_) - 1;
  auto sub_bucket_index =
      static_cast<uint64_t>(index & static_cast<size_t>(sub_bucket_half_count_ - 1)) + sub_bucket_half_count_;
  if (bucket_index < 0) {
    sub_bucket_index -= static_cast<uint64_t>(sub_bucket_half_count_);
    bucket_index = 0;
  }
  return static_cast<int64_t>(sub_bucket_index << (bucket_index + unit_magnitude_));
}

int64_t hdr_histogram::size_of_equivalent_range(int64_t value) const noexcept {
  const auto v = static_cast<uint64_t>(std::max<int64_t>(value, 0));
  const int pow2_ceiling = 64 - std::countl_zero(v | static_cast<uint64_t>(sub_bucket_mask_));
  const int bucket_index = pow2_ceiling - unit_magnitude_ - (sub_bucket_half_count_magnitude_ + 1);
  const uint64_t sub_bucket_index = v >> (bucket_index + unit_magnitude_);
  const int adjusted =
      sub_bucket_index >= static_cast<uint64_t>(sub_bucket_count_) ? bucket_index + 1 : bucket_index;
  return int64_t{1} << (unit_magnitude_ + adjusted);
}

int64_t hdr_histogram::lowest_equivalent(int64_t value) const noexcept {
  const auto v = static_cast<uint64_t>(std::max<int64_t>(value, 0));
  const int pow2_ceiling = 64 - std::countl_zero(v | static_cast<uint64_t>(sub_bucket_mask_));
  const int shift = pow2_ceiling - (sub_bucket_half_count_magnitude_ + 1);  // bucket_index + unit_magnitude
  return static_cast<int64_t>((v >> shift) << shift);
}

int64_t hdr_histogram::highest_equivalent(int64_t value) const noexcept {
  const uint64_t next = static_cast<uint64_t>(lowest_equivalent(value)) +
                        static_cast<uint64_t>(size_of_equivalent_range(value));
  return static_cast<int64_t>(std::min<uint64_t>(next - 1, std::numeric_limits<int64_t>::max()));
}

int64_t hdr_histogram::median_equivalent(int64_t value) const noexcept {
  return lowest_equivalent(value) + (size_of_equivalent_range(value) >> 1);
}

bool hdr_histogram::values_equivalent(int64_t a, int64_t b) const noexcept {
  return lowest_equivalent(a) == lowest_equivalent(b);
}

void hdr_histogram::recompute_min_max(size_t highest_nonzero_index) noexcept {
  max_value_ = 0;
  min_nonzero_value_ = INT64_MAX;
  const size_t end = std::min(highest_nonzero_index + 1, counts_.size());
  for (size_t i = 1; i < end; ++i) {
    if (counts_[i] != 0) {
      min_nonzero_value_ = value_from_index(i);
      break;
    }
  }
  for (size_t i = end; i-- > 0;) {
    if (counts_[i] != 0) {
      max_value_ = highest_equivalent(value_from_index(i));
      break;
    }
  }
}

void hdr_histogram::add(const hdr_histogram& other) {
  clamped_count_ += other.clamped_count_;
  if (other.total_count_ == 0) return;
  // Same bucket layout, and nothing in other above the bucket that our clamping maps to: then bucket i
  // means the same value range in both and counts add index by index.
  const bool same_layout = other.unit_magnitude_ == unit_magnitude_ &&
                           other.sub_bucket_half_count_magnitude_ == sub_bucket_half_count_magnitude_ &&
                           other.max_index() <= counts_index_for(highest_trackable_);
  if (same_layout) {
    const size_t end = other.max_index() + 1;
    for (size_t i = 0; i < end; ++i) counts_[i] += other.counts_[i];
    total_count_ += other.total_count_;
    max_value_ = std::max(max_value_, other.max_value_);
    min_nonzero_value_ = std::min(min_nonzero_value_, other.min_nonzero_value_);
    return;
  }
  const size_t end = other.max_index() + 1;
  for (size_t i = 0; i < end; ++i) {
    if (other.counts_[i] != 0) record_n(other.median_equivalent(other.value_from_index(i)), other.counts_[i]);
  }
}

void hdr_histogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_count_ = 0;
  clamped_count_ = 0;
  min_nonzero_value_ = INT64_MAX;
  max_value_ = 0;
}

int64_t hdr_histogram::min() const noexcept {
  if (total_count_ == 0) return 0;
  if (counts_[0] > 0) return 0;
  return lowest_equivalent(min_nonzero_value_);
}

int64_t hdr_histogram::max() const noexcept { return max_value_ == 0 ? 0 : highest_equivalent(max_value_); }

double hdr_histogram::mean() const noexcept {
  if (total_count_ == 0) return 0.0;
  // Summed in double in index order, exactly as hdr_mean, so the .hgrm footer matches HdrHistogram_c.
  double total = 0.0;
  const size_t end = max_index() + 1;
  for (size_t i = 0; i < end; ++i) {
    if (counts_[i] != 0) {
      total += static_cast<double>(counts_[i]) * static_cast<double>(median_equivalent(value_from_index(i)));
    }
  }
  return total / static_cast<double>(total_count_);
}

double hdr_histogram::stddev() const noexcept {
  if (total_count_ == 0) return 0.0;
  const double m = mean();
  double deviation_total = 0.0;
  const size_t end = max_index() + 1;
  for (size_t i = 0; i < end; ++i) {
    if (counts_[i] != 0) {
      const double dev = static_cast<double>(median_equivalent(value_from_index(i))) - m;
      deviation_total += (dev * dev) * static_cast<double>(counts_[i]);
    }
  }
  return std::sqrt(deviation_total / static_cast<double>(total_count_));
}

int64_t hdr_histogram::value_at_percentile(double percentile) const noexcept {
  if (total_count_ == 0) return 0;
  const double requested = std::isnan(percentile) ? 0.0 : std::clamp(percentile, 0.0, 100.0);
  const double fp_count = (requested / 100.0) * static_cast<double>(total_count_);
  // Round up, but one ulp of floating-point excess must not push the rank into the next bucket.
  int64_t rank = 1;
  if (requested == 100.0) {
    rank = total_count_;  // exact even where a double cannot hold the total (above 2^53)
  } else if (fp_count > 0) {
    const double ulp = std::ldexp(1.0, std::ilogb(fp_count) - 52);
    const double rounded = std::ceil(fp_count - ulp);
    // The double may round up to 2^63 for totals near INT64_MAX; the cast is only defined below that.
    rank = rounded >= 0x1p63 ? total_count_
                             : std::clamp<int64_t>(static_cast<int64_t>(rounded), 1, total_count_);
  }
  int64_t cumulative = 0;
  const size_t end = max_index() + 1;
  for (size_t i = 0; i < end; ++i) {
    cumulative += counts_[i];
    if (cumulative >= rank) {
      const int64_t v = value_from_index(i);
      return requested == 0.0 ? lowest_equivalent(v) : highest_equivalent(v);
    }
  }
  return max();  // only reachable if counts and total disagree, which the invariants rule out
}

double hdr_histogram::fraction_at_or_below(int64_t value) const noexcept {
  if (total_count_ == 0) return 0.0;
  const size_t target =
      std::min(counts_index_for(std::clamp<int64_t>(value, 0, highest_trackable_)), counts_.size() - 1);
  int64_t below = 0;
  for (size_t i = 0; i <= target; ++i) below += counts_[i];
  return static_cast<double>(below) / static_cast<double>(total_count_);
}

std::vector<hdr_histogram::bucket> hdr_histogram::nonzero_buckets() const {
  std::vector<bucket> out;
  if (total_count_ == 0) return out;
  const size_t end = max_index() + 1;
  for (size_t i = 0; i < end; ++i) {
    if (counts_[i] != 0) {
      const int64_t v = value_from_index(i);
      out.push_back({lowest_equivalent(v), highest_equivalent(v), counts_[i]});
    }
  }
  return out;
}

namespace {

void append_format(std::string& out, const char* format, auto... args) {
  std::array<char, 256> buffer{};
  const int n = std::snprintf(buffer.data(), buffer.size(), format, args...);
  if (n > 0) out.append(buffer.data(), std::min<size_t>(static_cast<size_t>(n), buffer.size() - 1));
}

}  // namespace

std::string hdr_histogram::percentile_distribution(int ticks_per_half_distance, double value_scale) const {
  const int64_t ticks = std::clamp(ticks_per_half_distance, 1, 1000);
  const std::string line_format = "%12." + std::to_string(significant_digits_) + "f %12f %12lld %12.2f\n";
  std::string out;
  append_format(out, "%12s %12s %12s %12s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");

  // The percentile iteration of HdrHistogram_c, step for step (same floating-point operations), so the
  // lines are the ones hdr_percentiles_print writes: a bucket is reported once per percentile level it
  // reaches, and the level advances by 100 / (ticks * 2^(floor(log2(100 / (100 - level))) + 1)).
  const auto emit = [&](double percentile, int64_t highest_equivalent_value, int64_t cumulative) {
    const double fraction = percentile / 100.0;
    append_format(out, line_format.c_str(), static_cast<double>(highest_equivalent_value) / value_scale,
                  fraction, static_cast<long long>(cumulative), 1.0 / (1.0 - fraction));
  };
  size_t index = 0;
  bool started = false;
  int64_t count = 0;
  int64_t cumulative = 0;
  int64_t highest_value = 0;
  const auto advance = [&] {
    if (cumulative >= total_count_ || (started && index + 1 >= counts_.size())) return false;
    index = started ? index + 1 : 0;
    started = true;
    count = counts_[index];
    cumulative += count;
    highest_value = highest_equivalent(value_from_index(index));
    return true;
  };
  double level = 0.0;
  while (cumulative < total_count_) {
    if (!started && !advance()) break;
    bool reported = false;
    do {
      const double current = (100.0 * static_cast<double>(cumulative)) / static_cast<double>(total_count_);
      if (count != 0 && level <= current) {
        emit(level, highest_value, cumulative);
        // level < current <= 100 here, so the logarithm is finite.
        const double halvings = std::log(100 / (100.0 - level)) / std::log(2);
        const auto half_distance = std::pow(2, static_cast<double>(static_cast<int64_t>(halvings) + 1));
        level += 100.0 / (static_cast<double>(ticks) * half_distance);
        reported = true;
        break;
      }
    } while (advance());
    if (!reported) break;
  }
  emit(100.0, highest_value, cumulative);

  append_format(out, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", mean() / value_scale,
                stddev() / value_scale);
  append_format(out, "#[Max     = %12.3f, Total count    = %12lld]\n",
                static_cast<double>(max()) / value_scale, static_cast<long long>(total_count_));
  append_format(out, "#[Buckets = %12d, SubBuckets     = %12d]\n", bucket_count_, sub_bucket_count_);
  return out;
}

bool operator==(const hdr_histogram& a, const hdr_histogram& b) {
  return a.lowest_discernible_ == b.lowest_discernible_ && a.highest_trackable_ == b.highest_trackable_ &&
         a.significant_digits_ == b.significant_digits_ && a.total_count_ == b.total_count_ &&
         a.min() == b.min() && a.max() == b.max() && a.counts_ == b.counts_;
}

}  // namespace stampede
