// How the end-of-run text summary shows trends: k6's --summary-trend-stats (which statistics) and
// --summary-time-unit (one unit for every time, instead of each value's own). Parsed by the CLI, used by
// run_summary.cpp.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace stampede::loadgen {

enum class time_unit { automatic, s, ms, us };

struct trend_stat {
  enum class kind { avg, min, med, max, count, percentile };
  kind what = kind::avg;
  double percentile = 0;  // kind::percentile: 0..100
  std::string label;      // as printed: "avg", "p(95)"
};

struct summary_format {
  std::vector<trend_stat> stats;  // empty: k6's default set here (avg, min, med, p(90), p(95), p(99), max)
  time_unit unit = time_unit::automatic;
};

// "avg,min,med,max,p(90),p(99.9),count" (k6's names). Throws std::invalid_argument naming the bad entry.
std::vector<trend_stat> parse_trend_stats(std::string_view list);
// "s", "ms" or "us" (also "µs"). Throws std::invalid_argument.
time_unit parse_time_unit(std::string_view text);

// A time in milliseconds: in `unit`, or (automatic) in the unit that suits the value ("850us", "1.23ms",
// "2.50s").
std::string format_time(double ms, time_unit unit);
// "avg=1.20ms min=... " of the trend whose latency summary is `latency` ({min, mean, p50, ...}) and whose
// histogram (base64 HdrHistogram, microseconds) is `histogram_base64` ("" when absent: then only the
// percentiles the summary holds can be shown, others print "n/a").
std::string format_trend(const boost::json::object& latency, std::string_view histogram_base64,
                         const summary_format& format);

}  // namespace stampede::loadgen
