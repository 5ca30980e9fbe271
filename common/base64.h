// Base64, the standard alphabet (RFC 4648): HdrHistograms' text form (hdr_histogram_codec.cpp) and files sent
// as JSON strings (a distributed run's data files).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stampede {

// With padding.
std::string base64_encode(std::span<const uint8_t> in);
// Accepts the text with or without padding, surrounding whitespace trimmed; nullopt when it is not base64.
std::optional<std::vector<uint8_t>> base64_decode(std::string_view text);

}  // namespace stampede
