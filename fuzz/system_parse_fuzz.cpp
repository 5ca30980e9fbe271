// Fuzzes the drill's system-side parsers (drill/system_parse.h): HAProxy's `show stat` CSV and the
// Prometheus text of the shop nodes' /metrics, bytes from other processes. The first byte picks the parser
// (even: show stat, odd: Prometheus). Beyond "never crash", it checks invariants: every server row has a
// name and non-negative counters, every sample a valid metric name, and the sample bound holds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "drill/system_parse.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

bool valid_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (const char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    const auto stats = stampede::drill::parse_show_stat(text);
    for (const auto& s : stats.servers) {
      check(!s.server.empty() && s.server != "FRONTEND" && s.server != "BACKEND");
      check(s.total_sessions >= 0 && s.responses_5xx >= 0 && s.current_sessions >= 0);
      check(!s.last_change_s || *s.last_change_s >= 0);
      (void)stampede::drill::health_word(s.status);
    }
  } else {
    const auto samples = stampede::drill::parse_prometheus_text(text, 64);
    check(samples.samples.size() <= 64);
    for (const auto& s : samples.samples) {
      check(valid_name(s.name));
      for (const auto& [key, value] : s.labels) check(valid_name(key));
    }
    if (!samples.samples.empty()) (void)samples.sum(samples.samples.front().name, {{"result", "hit"}});
  }
  return 0;
}
