// Small formatting helpers shared by the report formats (internal to stampede::reports).
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

#include "results/model.h"

namespace stampede::reports::text {

// printf into a std::string.
template <typename... Args>
std::string format(const char* fmt, Args... args) {
  char small[128];
  int n = std::snprintf(small, sizeof small, fmt, args...);
  if (n < 0) return {};
  if (static_cast<size_t>(n) < sizeof small) return std::string(small, static_cast<size_t>(n));
  std::string out(static_cast<size_t>(n), '\0');
  std::snprintf(out.data(), out.size() + 1, fmt, args...);
  return out;
}

// Milliseconds with about three significant digits: 0.412, 4.12, 41.2, 412, 4120.
inline std::string ms(double v) {
  if (!std::isfinite(v)) return "-";
  double a = std::fabs(v);
  if (a == 0) return "0";
  if (a < 1) return format("%.3f", v);
  if (a < 10) return format("%.2f", v);
  if (a < 100) return format("%.1f", v);
  return format("%.0f", v);
}

// A plain number with up to `decimals` decimals, trailing zeros removed.
inline std::string num(double v, int decimals = 2) {
  if (!std::isfinite(v)) return "-";
  std::string s = format("%.*f", decimals, v);
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

inline std::string percent(double fraction, int decimals = 2) { return num(fraction * 100.0, decimals) + "%"; }

// Escapes for HTML/XML text and attribute values; control characters other than tab/newline are dropped
// (XML 1.0 cannot carry them at all).
inline std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') break;
        out += c;
    }
  }
  return out;
}

// Markdown table cell: escapes pipes and backticks' effect, flattens newlines.
inline std::string md_cell(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else if (c == '<') {
      out += "&lt;";
    } else if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') {
      out += c;
    }
  }
  return out;
}

// Markdown code span content in a table cell: only pipes, backticks and newlines need care.
inline std::string md_code(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '`') out += '\'';
    else if (c == '\n' || c == '\r') out += ' ';
    else if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') out += c;
  }
  return out;
}

// A file-name / hlog-tag safe form of a step name: [A-Za-z0-9._-] kept, runs of anything else become '_'.
inline std::string slug(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                c == '-';
    if (keep) {
      out += c;
    } else if (out.empty() || out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  while (!out.empty() && (out.front() == '_' || out.front() == '.')) out.erase(0, 1);
  if (out.size() > 80) out.resize(80);
  return out.empty() ? std::string("step") : out;
}

// One line for a custom metric (metrics.* of a script) in the Markdown and HTML reports, e.g. "avg 20.0 ms,
// p95 40.0 ms, max 40.0 ms (10 samples)", "12 (0.4/s)", "80% (8 of 10)", "4 (min 0, max 4)".
inline std::string metric_summary(const results::metric_result& m) {
  const auto v = [&](double x) { return m.is_time ? ms(x) + " ms" : num(x, 3); };
  if (m.type == "trend") {
    return "avg " + v(m.stats.mean) + ", p50 " + v(m.stats.p50) + ", p95 " + v(m.stats.p95) + ", p99 " +
           v(m.stats.p99) + ", max " + v(m.stats.max) + " (" + std::to_string(m.samples) + " samples)";
  }
  if (m.type == "counter") return num(m.count, 3) + " (" + num(m.rate, 2) + "/s)";
  if (m.type == "rate") {
    return percent(m.rate) + " (" + std::to_string(m.trues) + " of " + std::to_string(m.samples) + ")";
  }
  return num(m.value, 3) + " (min " + num(m.min, 3) + ", max " + num(m.max, 3) + ")";
}

}  // namespace stampede::reports::text
