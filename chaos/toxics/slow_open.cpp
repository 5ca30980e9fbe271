// slow_open: holds the upstream connect (and so every byte) for `delay` ms after the accept. Several
// slow_open toxics add up. A toxic added after the connect has no effect on that connection.
#include "chaos/toxics/catalogue.h"

namespace stampede::chaos::toxics {
namespace {

class slow_open final : public toxic_unit {
 public:
  using toxic_unit::toxic_unit;

  steady::duration connect_delay(const env& e) override {
    const auto delay = std::chrono::milliseconds(spec().delay);
    if (!logged_ && delay.count() > 0 && e.now < context().connection_start + delay) {
      record(e, "connect delayed " + std::to_string(spec().delay) + "ms");
      logged_ = true;
    }
    return delay;
  }

 private:
  bool logged_ = false;
};

}  // namespace

std::shared_ptr<toxic_unit> make_slow_open(unit_context ctx) {
  return std::make_shared<slow_open>(std::move(ctx));
}

}  // namespace stampede::chaos::toxics
