#include "chaos/json_text.h"

#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>
#include <string_view>

namespace stampede::chaos {

namespace json = boost::json;

void append_json_number(std::string& out, double number) {
  if (!std::isfinite(number)) {
    out += "null";
    return;
  }
  if (number == 0) {  // also -0
    out += '0';
    return;
  }
  // The shortest digits that read back to the same double ("d.ddde-7"), then written positionally.
  char buffer[32];
  const auto r = std::to_chars(buffer, buffer + sizeof buffer, number, std::chars_format::scientific);
  std::string_view text(buffer, static_cast<size_t>(r.ptr - buffer));
  if (text.front() == '-') {
    out += '-';
    text.remove_prefix(1);
  }
  const size_t e = text.find('e');
  int exponent = 0;
  std::from_chars(text.data() + e + (text[e + 1] == '+' ? 2 : 1), text.data() + text.size(), exponent);
  std::string digits(text.substr(0, e));
  if (digits.size() > 1) digits.erase(1, 1);  // drop the point: value = 0.digits * 10^(exponent + 1)
  const int point = exponent + 1;             // digits before the decimal point
  if (point <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-point), '0');
    out += digits;
  } else if (static_cast<size_t>(point) >= digits.size()) {
    out += digits;
    out.append(static_cast<size_t>(point) - digits.size(), '0');
  } else {
    out.append(digits, 0, static_cast<size_t>(point));
    out += '.';
    out.append(digits, static_cast<size_t>(point));
  }
}

namespace {

void append(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.get_object()) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(key);
        out += ':';
        append(out, item);
      }
      out += '}';
      return;
    }
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out += ',';
        first = false;
        append(out, item);
      }
      out += ']';
      return;
    }
    case json::kind::double_:
      append_json_number(out, v.get_double());
      return;
    default:
      out += json::serialize(v);
      return;  // null, bool, integers, strings
  }
}

}  // namespace

std::string to_json_text(const json::value& value) {
  std::string out;
  append(out, value);
  return out;
}

}  // namespace stampede::chaos
