// bandwidth: paces the direction at `rate` KB/s in writes of at most 10 ms worth of bytes. Several
// bandwidth toxics: each paces, so the lowest rate wins. rate 0 holds the data (not dropped) until
// the toxic is removed or updated, and says so in the log.
#include <algorithm>

#include "chaos/toxics/catalogue.h"

namespace stampede::chaos::toxics {
namespace {

class bandwidth final : public toxic_unit {
 public:
  using toxic_unit::toxic_unit;

  verdict on_data(head& h, const env& e) override {
    const int64_t rate = spec().rate;
    if (rate == 0) {
      if (held_logged_ != h.seq) record(e, "held: rate 0");
      held_logged_ = h.seq;
      return verdict::wait(steady::time_point::max());
    }
    if (next_ > e.now) return verdict::wait(next_);
    // 10 ms worth of bytes per write: smooth pacing, rate accurate to ~1% over a second.
    h.write_limit = std::min<size_t>(h.write_limit, static_cast<size_t>(std::max<int64_t>(1, rate * 10)));
    decided_ = e.now;
    return verdict::pass();
  }

  verdict on_written(const head&, size_t bytes, const env&) override {
    const int64_t rate = spec().rate;
    if (rate > 0) {  // KB/s = bytes per ms: a byte costs 1e6 / rate ns
      next_ = std::max(next_, decided_) +
              std::chrono::nanoseconds(static_cast<int64_t>(bytes) * 1'000'000 / rate);
    }
    return verdict::pass();
  }

  std::string activation_detail() const override {
    return spec().rate == 0 ? "active: rate 0 holds all data" : "active";
  }

 private:
  steady::time_point next_{};     // when the next write may start
  steady::time_point decided_{};  // when the last write was allowed
  uint64_t held_logged_ = 0;
};

}  // namespace

std::shared_ptr<toxic_unit> make_bandwidth(unit_context ctx) {
  return std::make_shared<bandwidth>(std::move(ctx));
}

}  // namespace stampede::chaos::toxics
