#include "common/hdr_histogram.h"

#include <zlib.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "common/text.h"

namespace stampede {

namespace {

// Cookies of the HdrHistogram serial formats. The 0xf0 nibble of an encoding cookie carries the word
// size (V2: 1 = ZigZag LEB128), so cookies are compared on their base with that nibble masked out.
constexpr uint32_t cookie_base_mask = ~uint32_t{0xf0};
constexpr uint32_t v0_encoding_cookie = 0x1c849308;
constexpr uint32_t v0_compressed_cookie = 0x1c849309;
constexpr uint32_t v1_encoding_cookie = 0x1c849301;
constexpr uint32_t v1_compressed_cookie = 0x1c849302;
constexpr uint32_t v2_encoding_cookie = 0x1c849303;
constexpr uint32_t v2_compressed_cookie = 0x1c849304;
constexpr uint32_t v2_word_size_nibble = 0x10;

constexpr size_t v0_header_size = 32;     // cookie, digits, lowest, highest, total count
constexpr size_t v1_v2_header_size = 40;  // cookie, payload length, offset, digits, lowest, highest, ratio
constexpr size_t compressed_header_size = 8;
constexpr size_t max_varint_size = 9;
constexpr size_t max_decoded_counts = (size_t{64} << 20) / sizeof(int64_t);

uint32_t word_size_of(uint32_t cookie) { return (cookie & 0xf0) >> 4; }

uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
uint64_t load_be64(const uint8_t* p) { return (uint64_t{load_be32(p)} << 32) | load_be32(p + 4); }

void store_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
void store_be64(std::vector<uint8_t>& out, uint64_t v) {
  store_be32(out, static_cast<uint32_t>(v >> 32));
  store_be32(out, static_cast<uint32_t>(v));
}

// ZigZag then LEB128-64b9B: up to 8 groups of 7 bits, and a 9th byte that carries a full 8 bits.
void put_varint(std::vector<uint8_t>& out, int64_t signed_value) {
  uint64_t v = (static_cast<uint64_t>(signed_value) << 1) ^ static_cast<uint64_t>(signed_value >> 63);
  for (int i = 0; i < 8; ++i) {
    if ((v >> 7) == 0) {
      out.push_back(static_cast<uint8_t>(v));
      return;
    }
    out.push_back(static_cast<uint8_t>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

// Returns false when the input ends inside a varint.
bool get_varint(std::span<const uint8_t> in, size_t& pos, int64_t& result) {
  uint64_t v = 0;
  for (int i = 0; i < 9; ++i) {
    if (pos >= in.size()) return false;
    const uint64_t byte = in[pos++];
    if (i == 8) {
      v |= byte << 56;
      break;
    }
    v |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) break;
  }
  result = static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  return true;
}

constexpr char base64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::span<const uint8_t> in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t n = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(base64_alphabet[(n >> shift) & 0x3f]);
  }
  const size_t rest = in.size() - i;
  if (rest > 0) {
    uint32_t n = uint32_t{in[i]} << 16;
    if (rest == 2) n |= uint32_t{in[i + 1]} << 8;
    out.push_back(base64_alphabet[(n >> 18) & 0x3f]);
    out.push_back(base64_alphabet[(n >> 12) & 0x3f]);
    out.push_back(rest == 2 ? base64_alphabet[(n >> 6) & 0x3f] : '=');
    out.push_back('=');
  }
  return out;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::optional<std::vector<uint8_t>> base64_decode(std::string_view text) {
  text = trim(text);
  size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  if (padding > 0 && text.size() % 4 != 0) return std::nullopt;  // padding only on a full final quad
  text.remove_suffix(padding);
  if (text.size() % 4 == 1) return std::nullopt;  // a lone sextet cannot hold a byte
  std::vector<uint8_t> out;
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    const int v = base64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  return out;
}

// RAII zlib inflate stream.
class inflater {
 public:
  explicit inflater(std::span<const uint8_t> in) {
    ok_ = inflateInit(&stream_) == Z_OK;
    // zlib's API takes a non-const pointer but never writes through next_in.
    stream_.next_in = const_cast<Bytef*>(in.data());
    stream_.avail_in = static_cast<uInt>(in.size());
  }
  ~inflater() {
    if (ok_) inflateEnd(&stream_);
  }
  inflater(const inflater&) = delete;
  inflater& operator=(const inflater&) = delete;

  // Appends inflated bytes to `out` until it holds `target` bytes or the stream ends. Returns false on
  // a zlib error or when the input runs out before either.
  bool inflate_to(std::vector<uint8_t>& out, size_t target) {
    if (!ok_) return false;
    while (out.size() < target && !ended_) {
      // Grow by what zlib actually produces, so a header that claims a large payload costs nothing
      // until the compressed data backs it up.
      const size_t chunk = std::min<size_t>(target - out.size(), 64 * 1024);
      const size_t old_size = out.size();
      out.resize(old_size + chunk);
      stream_.next_out = out.data() + old_size;
      stream_.avail_out = static_cast<uInt>(chunk);
      const int rc = inflate(&stream_, Z_NO_FLUSH);
      out.resize(old_size + (chunk - stream_.avail_out));
      if (rc == Z_STREAM_END) {
        ended_ = true;
      } else if (rc != Z_OK) {
        return false;  // Z_BUF_ERROR here means truncated input; anything else is corrupt data
      }
    }
    return true;
  }

  // True if the stream ends exactly here (no further output, checksum verified).
  bool at_end() {
    if (ended_) return true;
    std::vector<uint8_t> probe;
    return inflate_to(probe, 1) && probe.empty() && ended_;
  }

 private:
  z_stream stream_{};
  bool ok_ = false;
  bool ended_ = false;
};

}  // namespace

// Decoding needs to fill counts_ directly; it is a friend of hdr_histogram.
struct hdr_codec {
  // Largest encoded (uncompressed) size the header in `head` can legitimately need, or nullopt if the
  // header is invalid. `head` holds at least the header of its version.
  static std::optional<size_t> max_encoded_size(std::span<const uint8_t> head) {
    if (head.size() < 4) return std::nullopt;
    const uint32_t cookie = load_be32(head.data());
    const uint32_t base = cookie & cookie_base_mask;
    const uint32_t word = word_size_of(cookie);
    if (base == v0_encoding_cookie) {
      if (head.size() < v0_header_size || (word != 2 && word != 4 && word != 8)) return std::nullopt;
      const auto counts = counts_len_for(head, 4, 8, 16);
      if (!counts) return std::nullopt;
      return v0_header_size + *counts * word;
    }
    if (base != v1_encoding_cookie && base != v2_encoding_cookie) return std::nullopt;
    if (head.size() < v1_v2_header_size) return std::nullopt;
    if (base == v2_encoding_cookie && word != 1) return std::nullopt;
    if (base == v1_encoding_cookie && word != 2 && word != 4 && word != 8) return std::nullopt;
    const auto payload_len = static_cast<int32_t>(load_be32(head.data() + 4));
    const auto counts = counts_len_for(head, 12, 16, 24);
    if (!counts || payload_len < 0) return std::nullopt;
    const size_t max_payload = *counts * (base == v2_encoding_cookie ? max_varint_size : word);
    if (static_cast<size_t>(payload_len) > max_payload) return std::nullopt;
    return v1_v2_header_size + static_cast<size_t>(payload_len);
  }

  static std::optional<hdr_histogram> decode_uncompressed(std::span<const uint8_t> data) {
    const auto max_size = max_encoded_size(data);
    if (!max_size) return std::nullopt;
    const uint32_t cookie = load_be32(data.data());
    const uint32_t base = cookie & cookie_base_mask;
    const bool v0 = base == v0_encoding_cookie;
    // V1/V2 sizes are exact; V0 carries whole words up to the full counts array.
    if (v0 ? data.size() > *max_size : data.size() != *max_size) return std::nullopt;
    const size_t header = v0 ? v0_header_size : v1_v2_header_size;
    const size_t digits_at = v0 ? 4 : 12;
    hdr_histogram h(static_cast<int64_t>(load_be64(data.data() + digits_at + 4)),
                    static_cast<int64_t>(load_be64(data.data() + digits_at + 12)),
                    static_cast<int32_t>(load_be32(data.data() + digits_at)));
    const auto payload = data.subspan(header);
    const bool ok =
        base == v2_encoding_cookie ? fill_varints(h, payload) : fill_words(h, payload, word_size_of(cookie));
    if (!ok) return std::nullopt;
    return h;
  }

  static std::optional<hdr_histogram> decode(std::span<const uint8_t> bytes) {
    if (bytes.size() < 4) return std::nullopt;
    const uint32_t base = load_be32(bytes.data()) & cookie_base_mask;
    if (base == v0_encoding_cookie || base == v1_encoding_cookie || base == v2_encoding_cookie) {
      return decode_uncompressed(bytes);
    }
    if (base != v0_compressed_cookie && base != v1_compressed_cookie && base != v2_compressed_cookie) {
      return std::nullopt;
    }
    if (bytes.size() < compressed_header_size) return std::nullopt;
    // Each compressed cookie wraps the encoding of its own version only.
    const uint32_t inner_base = base == v2_compressed_cookie   ? v2_encoding_cookie
                                : base == v1_compressed_cookie ? v1_encoding_cookie
                                                               : v0_encoding_cookie;
    const auto compressed_len = static_cast<int32_t>(load_be32(bytes.data() + 4));
    if (compressed_len < 0 || static_cast<size_t>(compressed_len) > bytes.size() - compressed_header_size) {
      return std::nullopt;
    }
    // Trailing bytes after the deflate stream are tolerated, as the reference decoders do.
    inflater z(bytes.subspan(compressed_header_size, static_cast<size_t>(compressed_len)));
    std::vector<uint8_t> encoded;
    const size_t head = base == v0_compressed_cookie ? v0_header_size : v1_v2_header_size;
    if (!z.inflate_to(encoded, head) || encoded.size() < head) return std::nullopt;
    if ((load_be32(encoded.data()) & cookie_base_mask) != inner_base) return std::nullopt;
    const auto max_size = max_encoded_size(encoded);
    if (!max_size) return std::nullopt;
    // Never inflate more than the header can need: a zlib bomb stops at max_size.
    if (!z.inflate_to(encoded, *max_size) || !z.at_end()) return std::nullopt;
    return decode_uncompressed(encoded);
  }

 private:
  static std::optional<size_t> counts_len_for(std::span<const uint8_t> head, size_t digits_at,
                                              size_t lowest_at, size_t highest_at) {
    const auto layout =
        hdr_histogram::compute_layout(static_cast<int64_t>(load_be64(head.data() + lowest_at)),
                                      static_cast<int64_t>(load_be64(head.data() + highest_at)),
                                      static_cast<int32_t>(load_be32(head.data() + digits_at)));
    if (!layout || layout->counts_len > max_decoded_counts) return std::nullopt;
    return layout->counts_len;
  }

  static bool add_count(hdr_histogram& h, size_t index, int64_t count, size_t& highest_nonzero) {
    if (count < 0 || index >= h.counts_.size()) return false;
    if (count == 0) return true;
    if (__builtin_add_overflow(h.total_count_, count, &h.total_count_)) return false;
    h.counts_[index] = count;
    highest_nonzero = index;
    return true;
  }

  static bool fill_varints(hdr_histogram& h, std::span<const uint8_t> payload) {
    size_t pos = 0;
    size_t index = 0;
    size_t highest_nonzero = 0;
    while (pos < payload.size()) {
      int64_t value = 0;
      if (!get_varint(payload, pos, value)) return false;
      if (value < 0) {
        // A run of -value empty buckets. INT64_MIN has no positive counterpart.
        if (value == std::numeric_limits<int64_t>::min()) return false;
        const auto zeros = static_cast<uint64_t>(-value);
        if (zeros > h.counts_.size() - index) return false;
        index += static_cast<size_t>(zeros);
      } else {
        if (!add_count(h, index, value, highest_nonzero)) return false;
        ++index;
      }
    }
    h.recompute_min_max(highest_nonzero);
    return true;
  }

  static bool fill_words(hdr_histogram& h, std::span<const uint8_t> payload, uint32_t word) {
    if (payload.size() % word != 0 || payload.size() / word > h.counts_.size()) return false;
    size_t highest_nonzero = 0;
    for (size_t i = 0; i * word < payload.size(); ++i) {
      const uint8_t* p = payload.data() + i * word;
      int64_t count = 0;
      if (word == 2) count = static_cast<int16_t>((uint16_t{p[0]} << 8) | p[1]);
      if (word == 4) count = static_cast<int32_t>(load_be32(p));
      if (word == 8) count = static_cast<int64_t>(load_be64(p));
      if (!add_count(h, i, count, highest_nonzero)) return false;
    }
    h.recompute_min_max(highest_nonzero);
    return true;
  }
};

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

std::vector<uint8_t> hdr_histogram::encode_compressed() const {
  std::vector<uint8_t> encoded;
  const size_t counts_limit = max_index() + 1;
  encoded.reserve(v1_v2_header_size + counts_limit * 2);
  store_be32(encoded, v2_encoding_cookie | v2_word_size_nibble);
  store_be32(encoded, 0);  // payload length, patched below
  store_be32(encoded, 0);  // normalizingIndexOffset: our counts are never shifted
  store_be32(encoded, static_cast<uint32_t>(significant_digits_));
  store_be64(encoded, static_cast<uint64_t>(lowest_discernible_));
  store_be64(encoded, static_cast<uint64_t>(highest_trackable_));
  store_be64(encoded, std::bit_cast<uint64_t>(1.0));  // integerToDoubleValueConversionRatio
  for (size_t i = 0; i < counts_limit;) {
    const int64_t count = counts_[i++];
    if (count != 0) {
      put_varint(encoded, count);
      continue;
    }
    int64_t zeros = 1;
    while (i < counts_limit && counts_[i] == 0) {
      ++zeros;
      ++i;
    }
    put_varint(encoded, zeros > 1 ? -zeros : 0);  // Java writes a lone empty bucket as the count 0
  }
  const auto payload_len = static_cast<uint32_t>(encoded.size() - v1_v2_header_size);
  for (int b = 0; b < 4; ++b) encoded[4 + b] = static_cast<uint8_t>(payload_len >> (24 - 8 * b));

  uLongf compressed_len = compressBound(static_cast<uLong>(encoded.size()));
  std::vector<uint8_t> out(compressed_header_size + compressed_len);
  const int rc = compress(out.data() + compressed_header_size, &compressed_len, encoded.data(),
                          static_cast<uLong>(encoded.size()));
  if (rc != Z_OK)
    throw std::runtime_error("hdr_histogram: zlib compress failed (" + std::to_string(rc) + ")");
  out.resize(compressed_header_size + compressed_len);
  std::vector<uint8_t> head;
  store_be32(head, v2_compressed_cookie | v2_word_size_nibble);
  store_be32(head, static_cast<uint32_t>(compressed_len));
  std::copy(head.begin(), head.end(), out.begin());
  return out;
}

std::string hdr_histogram::encode_compressed_base64() const { return base64_encode(encode_compressed()); }

std::optional<hdr_histogram> hdr_histogram::decode(std::span<const uint8_t> bytes) {
  try {
    return hdr_codec::decode(bytes);
  } catch (const std::bad_alloc&) {
    return std::nullopt;  // the 64 MiB bound makes this unlikely, but a decode must not throw
  }
}

std::optional<hdr_histogram> hdr_histogram::decode_base64(std::string_view text) {
  const auto bytes = base64_decode(text);
  if (!bytes) return std::nullopt;
  return decode(*bytes);
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
