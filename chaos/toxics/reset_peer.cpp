// reset_peer: at the first data in its direction, waits `timeout` ms, then resets both sides (RST).
#include "chaos/toxics/catalogue.h"

namespace stampede::chaos::toxics {
namespace {

class reset_peer final : public toxic_unit {
 public:
  using toxic_unit::toxic_unit;

  verdict on_data(head&, const env& e) override {
    if (!reset_at_) reset_at_ = e.now + std::chrono::milliseconds(spec().timeout);
    if (e.now < *reset_at_) return verdict::wait(*reset_at_);
    record(e, "reset");
    return verdict::reset();
  }

 private:
  std::optional<steady::time_point> reset_at_;
};

}  // namespace

std::shared_ptr<toxic_unit> make_reset_peer(unit_context ctx) {
  return std::make_shared<reset_peer>(std::move(ctx));
}

}  // namespace stampede::chaos::toxics
