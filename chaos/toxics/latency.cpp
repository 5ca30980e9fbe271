// latency: every chunk waits latency (+ a sample of the distribution) from the time it was read.
// Several latency toxics add up (each adds its sample to head::delay).
#include <algorithm>
#include <cmath>
#include <numbers>

#include "chaos/toxics/catalogue.h"

namespace stampede::chaos::toxics {
namespace {

class latency final : public toxic_unit {
 public:
  explicit latency(unit_context ctx) : toxic_unit(std::move(ctx)), random_(context().seed) {}

  verdict on_data(head& h, const env& e) override {
    if (sampled_for_ != h.seq) {  // one sample per chunk, kept while the chunk waits or is sliced
      sampled_for_ = h.seq;
      sample_ = sample();
    }
    h.delay += sample_;
    const auto due = h.received + h.delay;
    return e.now < due ? verdict::wait(due) : verdict::pass();
  }

 private:
  steady::duration sample() {
    const auto& t = spec();
    double ms = static_cast<double>(t.latency);
    auto gaussian = [&] {
      const double u1 = 1.0 - random_.unit(), u2 = random_.unit();
      return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    };
    switch (t.distribution) {
      case latency_distribution::uniform:
        ms += static_cast<double>(random_.between(-t.jitter, t.jitter));
        break;
      case latency_distribution::normal:
        ms += static_cast<double>(t.jitter) * gaussian();
        break;
      case latency_distribution::lognormal:
        ms *= std::exp(t.sigma * gaussian());
        break;
      case latency_distribution::pareto:
        ms /= std::pow(1.0 - random_.unit(), 1.0 / t.alpha);
        break;
    }
    const double cap = t.max_latency > 0 ? static_cast<double>(t.max_latency) : 60'000.0;
    ms = std::clamp(ms, 0.0, cap);
    return std::chrono::microseconds(static_cast<int64_t>(ms * 1000.0));
  }

  rng random_;
  uint64_t sampled_for_ = 0;
  steady::duration sample_{0};
};

}  // namespace

std::shared_ptr<toxic_unit> make_latency(unit_context ctx) {
  return std::make_shared<latency>(std::move(ctx));
}

}  // namespace stampede::chaos::toxics
