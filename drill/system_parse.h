// The drill's system-side readings, parsed (drill/system_sampler.h reads them once a second): HAProxy's
// `show stat` CSV (per-server counters and health) and the Prometheus text format of the shop nodes'
// /metrics. Pure functions over bytes from other processes: malformed lines are skipped and counted, never
// thrown on (fuzzed: fuzz/system_parse_fuzz.cpp). Depends on the standard library only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stampede::drill {

// One server row of `show stat` (FRONTEND and BACKEND rows are left out).
struct haproxy_server_stat {
  std::string backend;                   // pxname
  std::string server;                    // svname
  int64_t total_sessions = 0;            // stot: a counter since HAProxy started
  int64_t responses_5xx = 0;             // hrsp_5xx: a counter
  int64_t current_sessions = 0;          // scur
  std::string status;                    // "UP", "DOWN", "UP 1/2", "MAINT", "no check", ...
  std::string check_status;              // "L7OK", "L4CON", ... (empty without checks)
  std::optional<int64_t> last_change_s;  // lastchg: seconds since the last UP/DOWN transition
  bool operator==(const haproxy_server_stat&) const = default;
};

struct haproxy_stats {
  std::vector<haproxy_server_stat> servers;
  size_t rejected_lines = 0;  // rows without the header's columns or with a non-number counter
};

// Parses `show stat`'s CSV. The header line ("# pxname,svname,...") names the columns; without it (or
// without pxname/svname/stot/status in it) nothing is read and every line counts as rejected.
haproxy_stats parse_show_stat(std::string_view csv);

// The health word of a status: "UP 1/2" -> "UP" (still up, one check failed), "no check" -> "no check".
std::string health_word(std::string_view status);

struct prometheus_sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // in the text's order, values unescaped
  double value = 0;
  // The value of label `key`, or empty.
  std::string_view label(std::string_view key) const;
};

struct prometheus_samples {
  std::vector<prometheus_sample> samples;
  size_t rejected_lines = 0;

  // Sum of the samples named `name` whose labels include every (key, value) of `match`; nullopt when
  // there is none.
  std::optional<double> sum(
      std::string_view name,
      const std::vector<std::pair<std::string_view, std::string_view>>& match = {}) const;
};

// Parses the Prometheus text exposition format (0.0.4): comments and blank lines skipped, a line that is
// not `name[{labels}] value [timestamp]` rejected. At most `max_samples` samples are kept (a bound on what a
// misbehaving peer can make us hold).
prometheus_samples parse_prometheus_text(std::string_view text, size_t max_samples = 100'000);

}  // namespace stampede::drill
