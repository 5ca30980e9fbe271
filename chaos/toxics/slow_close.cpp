// slow_close: data passes; the end of the stream is passed on `delay` ms after it was read. Several
// slow_close toxics: the longest delay wins.
#include "chaos/toxics/catalogue.h"

namespace stampede::chaos::toxics {
namespace {

class slow_close final : public toxic_unit {
 public:
  using toxic_unit::toxic_unit;

  verdict on_eof(const head& h, const env& e) override {
    if (!logged_) record(e, "close delayed");
    logged_ = true;
    const auto until = h.received + std::chrono::milliseconds(spec().delay);
    return e.now < until ? verdict::wait(until) : verdict::pass();
  }

 private:
  bool logged_ = false;
};

}  // namespace

std::shared_ptr<toxic_unit> make_slow_close(unit_context ctx) {
  return std::make_shared<slow_close>(std::move(ctx));
}

}  // namespace stampede::chaos::toxics
