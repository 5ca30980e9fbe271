// The shop node's request-duration histograms per route, method and status, written as Prometheus text
// through common/prometheus_text.h. Names follow Prometheus conventions (base units, _total).
// Thread-safety: observe() and render() are thread-safe; observe() is lock-free once a series exists.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>

#include "common/prometheus_text.h"

namespace stampede::shop {

class duration_histograms {
 public:
  static constexpr std::array<double, 14> bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,    0.25,  0.5,    1.0,   2.5,   5.0,  10.0};
  // `route` must be a low-cardinality pattern ("/api/products/{id}"), never a raw path.
  void observe(std::string_view route, std::string_view method, int status, double seconds);
  // Writes the histogram family `name` (with HELP and TYPE).
  void render(prometheus::text_writer& out, std::string_view name, std::string_view help) const;

 private:
  struct series {
    std::array<std::atomic<uint64_t>, bounds.size()> buckets{};
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_micros{0};
  };
  using key = std::tuple<std::string, std::string, int>;
  mutable std::shared_mutex mutex_;
  // Transparent comparison through string_views: lookups by (string_view, string_view, int) allocate
  // nothing. Spelled out because clang 14 cannot compare tuple<string...> with tuple<string_view...>
  // through std::less<> (the fuzz preset builds with clang; hardening fix).
  struct key_less {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return std::tuple<std::string_view, std::string_view, int>(std::get<0>(a), std::get<1>(a), std::get<2>(a)) <
             std::tuple<std::string_view, std::string_view, int>(std::get<0>(b), std::get<1>(b), std::get<2>(b));
    }
  };
  std::map<key, std::unique_ptr<series>, key_less> series_;
};

}  // namespace stampede::shop
