// The text summary's trend statistics and time unit (summary_format.h).
#include "loadgen/summary_format.h"

#include <cmath>
#include <cstdio>
#include <optional>
#include <stdexcept>

#include "common/hdr_histogram.h"

namespace stampede::loadgen {

namespace {

std::optional<double> field(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->to_number<double>();
}

// The value of `stat` from the histogram (microseconds) when there is one, else from the summary's fields.
std::optional<double> stat_value(const trend_stat& stat, const boost::json::object& latency,
                                 const hdr_histogram* h) {
  using kind = trend_stat::kind;
  if (h != nullptr) {
    switch (stat.what) {
      case kind::avg:
        return h->mean() / 1000.0;
      case kind::min:
        return static_cast<double>(h->min()) / 1000.0;
      case kind::med:
        return static_cast<double>(h->value_at_percentile(50)) / 1000.0;
      case kind::max:
        return static_cast<double>(h->max()) / 1000.0;
      case kind::count:
        return static_cast<double>(h->total_count());
      case kind::percentile:
        return static_cast<double>(h->value_at_percentile(stat.percentile)) / 1000.0;
    }
  }
  switch (stat.what) {
    case kind::avg:
      return field(latency, "mean");
    case kind::min:
      return field(latency, "min");
    case kind::med:
      return field(latency, "p50");
    case kind::max:
      return field(latency, "max");
    case kind::count:
      return std::nullopt;
    case kind::percentile:
      for (const auto& [p, key] :
           {std::pair{50.0, "p50"}, {90.0, "p90"}, {95.0, "p95"}, {99.0, "p99"}, {99.9, "p999"}}) {
        if (stat.percentile == p) return field(latency, key);
      }
      return std::nullopt;
  }
  return std::nullopt;
}

const std::vector<trend_stat>& default_stats() {
  static const std::vector<trend_stat> stats = parse_trend_stats("avg,min,med,p(90),p(95),p(99),max");
  return stats;
}

}  // namespace

std::vector<trend_stat> parse_trend_stats(std::string_view list) {
  std::vector<trend_stat> out;
  while (true) {
    const size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    trend_stat s;
    s.label = std::string(item);
    if (item == "avg") {
      s.what = trend_stat::kind::avg;
    } else if (item == "min") {
      s.what = trend_stat::kind::min;
    } else if (item == "med") {
      s.what = trend_stat::kind::med;
    } else if (item == "max") {
      s.what = trend_stat::kind::max;
    } else if (item == "count") {
      s.what = trend_stat::kind::count;
    } else if (item.starts_with("p(") && item.ends_with(")") && item.size() > 3) {
      const std::string number(item.substr(2, item.size() - 3));
      size_t used = 0;
      double p = -1;
      try {
        p = std::stod(number, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != number.size() || !(p >= 0 && p <= 100)) {
        throw std::invalid_argument("'" + s.label + "': the percentile must be a number in 0..100");
      }
      s.what = trend_stat::kind::percentile;
      s.percentile = p;
    } else {
      throw std::invalid_argument("unknown statistic '" + s.label +
                                  "' (known: avg, min, med, max, count, p(N))");
    }
    out.push_back(std::move(s));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

time_unit parse_time_unit(std::string_view text) {
  if (text == "s") return time_unit::s;
  if (text == "ms") return time_unit::ms;
  if (text == "us" || text == "\u00b5s") return time_unit::us;
  throw std::invalid_argument("unknown time unit '" + std::string(text) + "' (known: s, ms, us)");
}

std::string format_time(double ms, time_unit unit) {
  char text[48];
  switch (unit) {
    case time_unit::s:
      std::snprintf(text, sizeof text, "%.4fs", ms / 1000);
      break;
    case time_unit::ms:
      std::snprintf(text, sizeof text, "%.2fms", ms);
      break;
    case time_unit::us:
      std::snprintf(text, sizeof text, "%.0fus", ms * 1000);
      break;
    case time_unit::automatic:
      if (ms >= 1000) {
        std::snprintf(text, sizeof text, "%.2fs", ms / 1000);
      } else if (ms >= 1) {
        std::snprintf(text, sizeof text, "%.2fms", ms);
      } else {
        std::snprintf(text, sizeof text, "%.0fus", ms * 1000);
      }
      break;
  }
  return text;
}

std::string format_trend(const boost::json::object& latency, std::string_view histogram_base64,
                         const summary_format& format) {
  std::optional<hdr_histogram> histogram;
  if (!histogram_base64.empty()) histogram = hdr_histogram::decode_base64(histogram_base64);
  std::string out;
  for (const trend_stat& stat : format.stats.empty() ? default_stats() : format.stats) {
    if (!out.empty()) out += ' ';
    out += stat.label + "=";
    const auto value = stat_value(stat, latency, histogram ? &*histogram : nullptr);
    if (!value) {
      out += "n/a";
    } else if (stat.what == trend_stat::kind::count) {
      out += std::to_string(static_cast<long long>(*value));
    } else {
      out += format_time(*value, format.unit);
    }
  }
  return out;
}

}  // namespace stampede::loadgen
