#include "drill/system_parse.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace stampede::drill {

namespace {

// Splits `text` at '\n' (a trailing '\r' is dropped), calling f(line) for each line.
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    f(line);
  }
}

std::vector<std::string_view> split_commas(std::string_view line, size_t max_fields) {
  std::vector<std::string_view> out;
  while (out.size() < max_fields) {
    const size_t comma = line.find(',');
    out.push_back(line.substr(0, comma));
    if (comma == std::string_view::npos) break;
    line.remove_prefix(comma + 1);
  }
  return out;
}

// A non-negative decimal integer; an empty field is 0 (HAProxy leaves counters a server lacks empty).
std::optional<int64_t> counter_field(std::string_view s) {
  if (s.empty()) return 0;
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_blank(char c) { return c == ' ' || c == '\t'; }

void skip_blanks(std::string_view& s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
}

// A metric or label name at the front of `s` (label names may not hold ':', not checked: harmless).
std::optional<std::string_view> take_name(std::string_view& s) {
  if (s.empty() || !is_name_start(s.front())) return std::nullopt;
  size_t n = 1;
  while (n < s.size() && is_name_char(s[n])) ++n;
  const std::string_view name = s.substr(0, n);
  s.remove_prefix(n);
  return name;
}

// A quoted label value with \\, \" and \n escapes, at the front of `s`.
std::optional<std::string> take_quoted(std::string_view& s) {
  if (s.empty() || s.front() != '"') return std::nullopt;
  std::string out;
  for (size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') {
      s.remove_prefix(i + 1);
      return out;
    }
    if (c == '\\') {
      if (++i == s.size()) return std::nullopt;
      const char e = s[i];
      out += e == 'n' ? '\n' : e;  // \\ and \" stand for themselves; other escapes are kept as the char
      continue;
    }
    out += c;
  }
  return std::nullopt;
}

std::optional<double> parse_value(std::string_view s) {
  if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.front() == '+' || (s.front() == '-' && s.size() > 1 && s[1] == '+')) return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<prometheus_sample> parse_sample_line(std::string_view line) {
  prometheus_sample out;
  const auto name = take_name(line);
  if (!name) return std::nullopt;
  out.name = std::string{*name};
  if (!line.empty() && line.front() == '{') {
    line.remove_prefix(1);
    while (true) {
      skip_blanks(line);
      if (!line.empty() && line.front() == '}') {
        line.remove_prefix(1);
        break;
      }
      const auto key = take_name(line);
      skip_blanks(line);
      if (!key || line.empty() || line.front() != '=') return std::nullopt;
      line.remove_prefix(1);
      skip_blanks(line);
      auto value = take_quoted(line);
      if (!value) return std::nullopt;
      out.labels.emplace_back(std::string{*key}, std::move(*value));
      skip_blanks(line);
      if (!line.empty() && line.front() == ',') {
        line.remove_prefix(1);
      } else if (line.empty() || line.front() != '}') {
        return std::nullopt;
      }
    }
  }
  if (line.empty() || !is_blank(line.front())) return std::nullopt;
  skip_blanks(line);
  const size_t end = line.find_first_of(" \t");
  const auto value = parse_value(line.substr(0, end));
  if (!value) return std::nullopt;
  out.value = *value;
  if (end != std::string_view::npos) {  // an optional integer timestamp, nothing after it
    line.remove_prefix(end);
    skip_blanks(line);
    int64_t ts = 0;
    if (!line.empty()) {
      const auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), ts);
      if (ec != std::errc{}) return std::nullopt;
      std::string_view rest = line.substr(static_cast<size_t>(p - line.data()));
      skip_blanks(rest);
      if (!rest.empty()) return std::nullopt;
    }
  }
  return out;
}

}  // namespace

haproxy_stats parse_show_stat(std::string_view csv) {
  haproxy_stats out;
  constexpr size_t max_fields = 256;  // HAProxy 2.x has about 100 columns
  struct columns {
    std::optional<size_t> pxname, svname, stot, hrsp_5xx, scur, status, check_status, lastchg;
  } col;
  bool have_header = false;
  for_each_line(csv, [&](std::string_view line) {
    if (line.empty()) return;
    if (line.front() == '#') {
      line.remove_prefix(1);
      skip_blanks(line);
      col = {};
      const auto names = split_commas(line, max_fields);
      for (size_t i = 0; i < names.size(); ++i) {
        const std::string_view n = names[i];
        if (n == "pxname") col.pxname = i;
        if (n == "svname") col.svname = i;
        if (n == "stot") col.stot = i;
        if (n == "hrsp_5xx") col.hrsp_5xx = i;
        if (n == "scur") col.scur = i;
        if (n == "status") col.status = i;
        if (n == "check_status") col.check_status = i;
        if (n == "lastchg") col.lastchg = i;
      }
      have_header = col.pxname && col.svname && col.stot && col.status;
      return;
    }
    const auto fields = split_commas(line, max_fields);
    const auto at = [&](const std::optional<size_t>& i) -> std::optional<std::string_view> {
      if (!i) return std::string_view{};  // a column this HAProxy does not have: empty
      if (*i >= fields.size()) return std::nullopt;
      return fields[*i];
    };
    if (!have_header) {
      ++out.rejected_lines;
      return;
    }
    const auto px = at(col.pxname), sv = at(col.svname), status = at(col.status),
               check = at(col.check_status);
    const auto stot = at(col.stot), e5 = at(col.hrsp_5xx), scur = at(col.scur), chg = at(col.lastchg);
    if (!px || !sv || !status || !check || !stot || !e5 || !scur || !chg || sv->empty()) {
      ++out.rejected_lines;
      return;
    }
    if (*sv == "FRONTEND" || *sv == "BACKEND") return;
    const auto total = counter_field(*stot), errors = counter_field(*e5), current = counter_field(*scur);
    if (!total || !errors || !current) {
      ++out.rejected_lines;
      return;
    }
    haproxy_server_stat s{std::string{*px},     std::string{*sv},    *total,      *errors, *current,
                          std::string{*status}, std::string{*check}, std::nullopt};
    if (!chg->empty()) s.last_change_s = counter_field(*chg);
    out.servers.push_back(std::move(s));
  });
  return out;
}

std::string health_word(std::string_view status) {
  if (status.rfind("no check", 0) == 0) return "no check";
  const size_t space = status.find(' ');
  return std::string{status.substr(0, space)};
}

std::string_view prometheus_sample::label(std::string_view key) const {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return {};
}

std::optional<double> prometheus_samples::sum(
    std::string_view name, const std::vector<std::pair<std::string_view, std::string_view>>& match) const {
  std::optional<double> total;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& [k, v] : match) all = all && s.label(k) == v;
    if (all) total = total.value_or(0) + s.value;
  }
  return total;
}

prometheus_samples parse_prometheus_text(std::string_view text, size_t max_samples) {
  prometheus_samples out;
  for_each_line(text, [&](std::string_view line) {
    skip_blanks(line);
    if (line.empty() || line.front() == '#') return;
    if (out.samples.size() >= max_samples) {
      ++out.rejected_lines;
      return;
    }
    if (auto s = parse_sample_line(line)) {
      out.samples.push_back(std::move(*s));
    } else {
      ++out.rejected_lines;
    }
  });
  return out;
}

}  // namespace stampede::drill
