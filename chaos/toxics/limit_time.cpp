// limit_time: cuts a healthy connection `time` ms after it started (or after the toxic appeared on it,
// if later): FIN, or RST with `reset`.
#include <algorithm>

#include "chaos/toxics/catalogue.h"

namespace stampede::chaos::toxics {
namespace {

class limit_time final : public toxic_unit {
 public:
  using toxic_unit::toxic_unit;

  std::optional<steady::time_point> deadline() const override {
    return std::max(context().connection_start, context().activated) + std::chrono::milliseconds(spec().time);
  }

  verdict on_deadline(const env& e) override {
    record(e,
           std::string(spec().reset ? "reset" : "closed") + " after " + std::to_string(spec().time) + "ms");
    return spec().reset ? verdict::reset() : verdict::close();
  }
};

}  // namespace

std::shared_ptr<toxic_unit> make_limit_time(unit_context ctx) {
  return std::make_shared<limit_time>(std::move(ctx));
}

}  // namespace stampede::chaos::toxics
