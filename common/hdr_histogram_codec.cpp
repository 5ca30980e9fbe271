// HdrHistogram's serial formats: the V2 encoding (ZigZag LEB128 counts) compressed with zlib, and its
// base64 text form; decoding reads V0, V1 and V2 encodings and validates every header field and count
// against hostile input. Recording and queries are in hdr_histogram.cpp.
#include <zlib.h>

#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "common/base64.h"
#include "common/hdr_histogram.h"
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

}  // namespace stampede
