#include "reference_shop/metrics.h"

#include <algorithm>
#include <mutex>

namespace stampede::shop {

void duration_histograms::observe(std::string_view route, std::string_view method, int status, double seconds) {
  series* s = nullptr;
  {
    std::shared_lock lock{mutex_};
    auto it = series_.find(std::make_tuple(route, method, status));
    if (it != series_.end()) s = it->second.get();
  }
  if (s == nullptr) {
    std::unique_lock lock{mutex_};
    auto& slot = series_[key{std::string{route}, std::string{method}, status}];
    if (!slot) slot = std::make_unique<series>();
    s = slot.get();
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (seconds <= bounds[i]) {
      s->buckets[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  s->count.fetch_add(1, std::memory_order_relaxed);
  s->sum_micros.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void duration_histograms::render(prometheus::text_writer& out, std::string_view name,
                                 std::string_view help) const {
  out.family(name, prometheus::metric_type::histogram, help);
  std::shared_lock lock{mutex_};
  std::array<uint64_t, bounds.size()> cumulative{};
  for (const auto& [k, s] : series_) {
    const auto& [route, method, status] = k;
    const std::string code = std::to_string(status);
    uint64_t running = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
      running += s->buckets[i].load(std::memory_order_relaxed);
      cumulative[i] = running;
    }
    // observe() counts the bucket before the total: a total read after the buckets is never below them,
    // unless an observation is under way; max() keeps +Inf >= every bucket even then.
    const uint64_t count = std::max(running, s->count.load(std::memory_order_relaxed));
    out.histogram(name, {{"route", route}, {"method", method}, {"status", code}}, bounds, cumulative,
                  static_cast<double>(s->sum_micros.load(std::memory_order_relaxed)) / 1e6, count);
  }
}

}  // namespace stampede::shop
