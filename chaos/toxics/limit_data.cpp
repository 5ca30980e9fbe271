// limit_data: forwards `bytes` bytes in its direction (counted from when it became active on the
// connection), then closes the connection. Several: the smallest remaining allowance wins.
#include <algorithm>

#include "chaos/toxics/catalogue.h"

namespace stampede::chaos::toxics {
namespace {

class limit_data final : public toxic_unit {
 public:
  using toxic_unit::toxic_unit;

  verdict on_data(head& h, const env& e) override {
    const auto limit = static_cast<uint64_t>(spec().bytes);
    if (sent_ >= limit) return cut(e);
    h.write_limit = static_cast<size_t>(std::min<uint64_t>(h.write_limit, limit - sent_));
    return verdict::pass();
  }

  verdict on_written(const head&, size_t bytes, const env& e) override {
    sent_ += bytes;
    return sent_ >= static_cast<uint64_t>(spec().bytes) ? cut(e) : verdict::pass();
  }

 private:
  verdict cut(const env& e) const {
    record(e, "closed after " + std::to_string(sent_) + " bytes");
    return verdict::close();
  }

  uint64_t sent_ = 0;
};

}  // namespace

std::shared_ptr<toxic_unit> make_limit_data(unit_context ctx) {
  return std::make_shared<limit_data>(std::move(ctx));
}

}  // namespace stampede::chaos::toxics
