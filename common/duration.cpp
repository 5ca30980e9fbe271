#include "common/duration.h"

#include <array>
#include <cstdint>
#include <stdexcept>

#include "common/text.h"

namespace stampede {
namespace {

// GCC and clang both have it; __extension__ keeps -Wpedantic quiet. Needed because an 18-digit
// fraction times the nanoseconds in an hour does not fit 64 bits.
__extension__ typedef unsigned __int128 uint128;

constexpr int64_t max_ns = max_duration.count();
// Fraction digits beyond this many are ignored (they are far below 1 ns for every unit).
constexpr int max_fraction_digits = 18;

struct unit_info {
  std::string_view name;
  int64_t ns;
  int rank;  // larger = coarser; components must strictly decrease
};

constexpr std::array<unit_info, 7> units{{
    {"h", 3'600'000'000'000, 4},
    {"m", 60'000'000'000, 3},
    {"s", 1'000'000'000, 2},
    {"ms", 1'000'000, 1},
    {"us", 1'000, 0},
    {"\xC2\xB5s", 1'000, 0},  // U+00B5 MICRO SIGN
    {"\xCE\xBCs", 1'000, 0},  // U+03BC GREEK SMALL LETTER MU
}};

enum class failure {
  none,
  empty,
  negative,
  expected_digit,
  expected_fraction,
  missing_unit,
  unknown_unit,
  unit_order,
  too_large
};

struct outcome {
  std::chrono::nanoseconds value{};
  failure error = failure::none;
  std::string_view where;  // the offending part of the input, for the message
};

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Unit names are ASCII letters or the two UTF-8 micro signs followed by 's'.
size_t unit_length(std::string_view rest) noexcept {
  size_t i = 0;
  while (i < rest.size()) {
    const auto c = static_cast<unsigned char>(rest[i]);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      ++i;
    } else if (c >= 0x80) {  // any non-ASCII byte: treat as part of the unit so the message shows it whole
      ++i;
    } else {
      break;
    }
  }
  return i;
}

outcome parse(std::string_view input) noexcept {
  const std::string_view text = trim(input);
  if (text.empty()) return {{}, failure::empty, text};
  if (text.front() == '-') return {{}, failure::negative, text};

  int64_t total = 0;
  int last_rank = 1000;
  size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    const size_t start = pos;
    if (!is_digit(text[pos])) return {{}, failure::expected_digit, text.substr(pos)};
    // Integer part; anything above max_ns cannot be valid for any unit (smallest unit is 1000 ns).
    uint64_t whole = 0;
    bool whole_too_large = false;
    while (pos < text.size() && is_digit(text[pos])) {
      if (!whole_too_large) {
        whole = whole * 10 + static_cast<uint64_t>(text[pos] - '0');
        if (whole > static_cast<uint64_t>(max_ns)) whole_too_large = true;
      }
      ++pos;
    }
    uint64_t fraction = 0;
    uint64_t fraction_scale = 1;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      if (pos >= text.size() || !is_digit(text[pos]))
        return {{}, failure::expected_fraction, text.substr(start)};
      int digits = 0;
      while (pos < text.size() && is_digit(text[pos])) {
        if (digits < max_fraction_digits) {
          fraction = fraction * 10 + static_cast<uint64_t>(text[pos] - '0');
          fraction_scale *= 10;
          ++digits;
        }
        ++pos;
      }
    }
    const std::string_view number = text.substr(start, pos - start);
    const size_t unit_len = unit_length(text.substr(pos));
    const std::string_view unit_name = text.substr(pos, unit_len);
    pos += unit_len;

    const unit_info* unit = nullptr;
    static constexpr unit_info seconds{"s", 1'000'000'000, 2};
    if (unit_name.empty()) {
      // Only a bare number on its own means seconds; "1m30" is a forgotten unit, not 30 seconds.
      if (!(first && pos == text.size())) return {{}, failure::missing_unit, number};
      unit = &seconds;
    } else {
      for (const auto& u : units) {
        if (u.name == unit_name) unit = &u;
      }
      if (unit == nullptr) return {{}, failure::unknown_unit, unit_name};
      if (unit->rank >= last_rank) return {{}, failure::unit_order, text.substr(start, pos - start)};
      last_rank = unit->rank;
    }
    if (whole_too_large) return {{}, failure::too_large, text};
    const uint128 component =
        static_cast<uint128>(whole) * static_cast<uint64_t>(unit->ns) +
        static_cast<uint128>(fraction) * static_cast<uint64_t>(unit->ns) / fraction_scale;
    if (component > static_cast<uint128>(max_ns - total)) return {{}, failure::too_large, text};
    total += static_cast<int64_t>(component);
    first = false;
  }
  return {std::chrono::nanoseconds(total), failure::none, {}};
}

std::string describe(const outcome& o) {
  const std::string where(o.where);
  switch (o.error) {
    case failure::none:
      break;
    case failure::empty:
      return "empty";
    case failure::negative:
      return "negative durations are not allowed";
    case failure::expected_digit:
      return "expected a number at '" + where + "'";
    case failure::expected_fraction:
      return "expected digits after the decimal point in '" + where + "'";
    case failure::missing_unit:
      return "missing unit after '" + where + "'";
    case failure::unknown_unit:
      return "unknown unit '" + where + "' (units: h, m, s, ms, us)";
    case failure::unit_order:
      return "unit in '" + where + "' is out of order (largest unit first, each once)";
    case failure::too_large:
      return "longer than 10 years";
  }
  return "malformed";
}

// "1.5" for (1'500'000, 1'000'000): whole part, then the fraction without trailing zeros.
void append_scaled(std::string& out, int64_t value, int64_t unit) {
  out += std::to_string(value / unit);
  int64_t fraction = value % unit;
  if (fraction == 0) return;
  std::string digits;
  for (int64_t scale = unit / 10; scale > 0; scale /= 10) {
    digits += static_cast<char>('0' + (fraction / scale) % 10);
  }
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  out += '.';
  out += digits;
}

}  // namespace

std::optional<std::chrono::nanoseconds> try_parse_duration(std::string_view text) noexcept {
  const outcome o = parse(text);
  if (o.error != failure::none) return std::nullopt;
  return o.value;
}

std::chrono::nanoseconds parse_duration(std::string_view text) {
  const outcome o = parse(text);
  if (o.error != failure::none) {
    throw std::invalid_argument("invalid duration '" + std::string(text) + "': " + describe(o) +
                                " (expected e.g. 250ms, 10s, 2m, 1h30m)");
  }
  return o.value;
}

std::string format_duration(std::chrono::nanoseconds duration) {
  int64_t ns = duration.count();
  std::string out;
  if (ns < 0) {
    out += '-';
    // -INT64_MIN overflows; one nanosecond off is invisible at that magnitude.
    ns = ns == INT64_MIN ? INT64_MAX : -ns;
  }
  constexpr int64_t us = 1'000, ms = 1'000'000, s = 1'000'000'000, m = 60 * s, h = 60 * m;
  if (ns == 0) {
    out += "0s";
  } else if (ns >= m) {
    if (ns >= h) out += std::to_string(ns / h) + "h";
    if (ns % h >= m) out += std::to_string(ns % h / m) + "m";
    if (ns % m != 0) {
      append_scaled(out, ns % m, s);
      out += 's';
    }
  } else if (ns >= s) {
    append_scaled(out, ns, s);
    out += 's';
  } else if (ns >= ms) {
    append_scaled(out, ns, ms);
    out += "ms";
  } else {
    append_scaled(out, ns, us);
    out += "us";
  }
  return out;
}

}  // namespace stampede
