#include "results/metric_series.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "common/hdr_histogram.h"

namespace stampede::results {

namespace {
hdr_histogram decoded(const metric_interval& m) {
  auto h = hdr_histogram::decode_base64(m.histogram);
  if (!h) {
    throw results_error("metric_intervals \"" + m.name + "\" t=" + std::to_string(m.t) +
                        ": the histogram is not a valid HdrHistogram");
  }
  return std::move(*h);
}
}  // namespace

void merge_metric_interval(metric_interval& into, const metric_interval& from) {
  if (from.samples == 0) return;
  if (into.samples == 0) {
    const int64_t t = into.t;
    into = from;
    into.t = t;
    return;
  }
  if (into.type != from.type) {
    throw results_error("metric_intervals \"" + from.name + "\" is a " + into.type + " in one file and a " +
                        from.type + " in another");
  }
  if (!from.histogram.empty()) {
    if (into.histogram.empty()) {
      into.histogram = from.histogram;
    } else {
      hdr_histogram sum = decoded(into);
      sum.add(decoded(from));
      into.histogram = sum.encode_compressed_base64();
    }
  }
  into.min = std::min(into.min, from.min);
  into.max = std::max(into.max, from.max);
  if (from.last_unix_us > into.last_unix_us ||
      (from.last_unix_us == into.last_unix_us && from.value > into.value)) {
    into.value = from.value;
    into.last_unix_us = from.last_unix_us;
  }
  into.samples += from.samples;
  into.count += from.count;
  into.trues += from.trues;
}

std::vector<metric_interval> merge_metric_series(std::span<const run_results> files,
                                                 std::span<const int64_t> offsets) {
  std::map<std::pair<int64_t, std::string>, metric_interval> rows;
  for (size_t i = 0; i < files.size(); ++i) {
    const int64_t offset = i < offsets.size() ? offsets[i] : 0;
    for (const auto& row : files[i].metric_intervals) {
      const int64_t t = row.t + offset;
      auto [it, inserted] = rows.try_emplace({t, row.name});
      if (inserted) {
        it->second.name = row.name;
        it->second.type = row.type;
        it->second.t = t;
      }
      merge_metric_interval(it->second, row);
    }
  }
  std::vector<metric_interval> out;
  out.reserve(rows.size());
  for (auto& [key, row] : rows) out.push_back(std::move(row));
  return out;
}

}  // namespace stampede::results
