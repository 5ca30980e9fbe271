#include "common/prometheus_text.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace stampede::prometheus {

namespace {

constexpr std::string_view type_name(metric_type type) {
  switch (type) {
    case metric_type::counter:
      return "counter";
    case metric_type::gauge:
      return "gauge";
    case metric_type::histogram:
      return "histogram";
  }
  return "untyped";
}

// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names the same without ':'. Names come from our code,
// never from peers, so a bad one is a bug.
[[maybe_unused]] bool valid_name(std::string_view name, bool colon_allowed) {
  if (name.empty() || (name.front() >= '0' && name.front() <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (colon_allowed && c == ':');
  });
}

// Backslash and newline escaped, and double quotes where they would end the text (label values).
void append_escaped(std::string& out, std::string_view text, bool quotes) {
  for (char c : text) {
    if (c == '\\' || (quotes && c == '"')) {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

}  // namespace

void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  // Plain decimals where they are short ("0.0005", "2.5", "12"), exponents for the very small and large.
  const double magnitude = std::fabs(value);
  const auto format = magnitude == 0 || (magnitude >= 1e-4 && magnitude < 1e21)
                          ? std::chars_format::fixed
                          : std::chars_format::scientific;
  char digits[64];
  const char* end = std::to_chars(digits, digits + sizeof digits, value, format).ptr;
  out.append(digits, static_cast<size_t>(end - digits));
}

void append_label_value(std::string& out, std::string_view value) { append_escaped(out, value, true); }

void text_writer::family(std::string_view name, metric_type type, std::string_view help) {
  assert(valid_name(name, true));
  const auto known =
      std::find_if(families_.begin(), families_.end(), [&](const auto& f) { return f.first == name; });
  assert(known == families_.end() && "a family is written once");
  if (known != families_.end()) {
    current_ = static_cast<size_t>(known - families_.begin());
    return;
  }
  current_ = families_.size();
  families_.emplace_back(std::string(name), type);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_escaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type_name(type);
  out_ += '\n';
}

bool text_writer::belongs_to_current(std::string_view name) const {
  if (current_ >= families_.size()) return false;
  const auto& [family, type] = families_[current_];
  if (name == family) return type != metric_type::histogram;
  if (type != metric_type::histogram || !name.starts_with(family)) return false;
  const std::string_view suffix = name.substr(family.size());
  return suffix == "_bucket" || suffix == "_sum" || suffix == "_count";
}

void text_writer::begin_sample(std::string_view name, labels l, const label* extra) {
  assert(belongs_to_current(name) && "samples follow their family's header");
  out_ += name;
  if (!l.view().empty() || extra != nullptr) {
    out_ += '{';
    bool first = true;
    auto write = [&](const label& each) {
      assert(valid_name(each.first, false));
      if (!first) out_ += ',';
      first = false;
      out_ += each.first;
      out_ += "=\"";
      append_label_value(out_, each.second);
      out_ += '"';
    };
    for (const auto& each : l.view()) write(each);
    if (extra != nullptr) write(*extra);
    out_ += '}';
  }
  out_ += ' ';
}

void text_writer::sample(std::string_view name, labels l, double value) {
  begin_sample(name, l);
  append_value(out_, value);
  out_ += '\n';
}

void text_writer::sample_text(std::string_view name, labels l, std::string_view value) {
  begin_sample(name, l);
  out_ += value;
  out_ += '\n';
}

void text_writer::histogram(std::string_view name, labels l, std::span<const double> bounds,
                            std::span<const uint64_t> cumulative, double sum, uint64_t count) {
  assert(bounds.size() == cumulative.size());
  const std::string bucket = std::string(name) + "_bucket";
  std::string bound;
  for (size_t i = 0; i < bounds.size() && i < cumulative.size(); ++i) {
    bound.clear();
    append_value(bound, bounds[i]);
    const label le{"le", bound};
    begin_sample(bucket, l, &le);
    out_ += std::to_string(cumulative[i]);
    out_ += '\n';
  }
  const label infinity{"le", "+Inf"};
  begin_sample(bucket, l, &infinity);
  out_ += std::to_string(count);
  out_ += '\n';
  sample(std::string(name) + "_sum", l, sum);
  sample(std::string(name) + "_count", l, count);
}

}  // namespace stampede::prometheus
