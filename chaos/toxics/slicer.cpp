// slicer: writes each chunk in slices of average_size +- size_variation bytes, `delay` microseconds
// apart (as Toxiproxy; the delay is between the slices of one chunk).
#include <algorithm>

#include "chaos/toxics/catalogue.h"

namespace stampede::chaos::toxics {
namespace {

class slicer final : public toxic_unit {
 public:
  explicit slicer(unit_context ctx) : toxic_unit(std::move(ctx)), random_(context().seed) {}

  verdict on_data(head& h, const env& e) override {
    if (pause_for_ == h.seq && e.now < pause_until_) return verdict::wait(pause_until_);
    if (sized_for_ != h.seq || sized_at_ != h.offset) {  // one size per slice, kept while it waits
      const auto& t = spec();
      sized_for_ = h.seq;
      sized_at_ = h.offset;
      size_ = static_cast<size_t>(std::max<int64_t>(
          1, random_.between(t.average_size - t.size_variation, t.average_size + t.size_variation)));
    }
    h.write_limit = std::min(h.write_limit, size_);
    return verdict::pass();
  }

  verdict on_written(const head& h, size_t, const env& e) override {
    if (h.remaining() > 0 && spec().delay > 0) {
      pause_for_ = h.seq;
      pause_until_ = e.now + std::chrono::microseconds(spec().delay);
    }
    return verdict::pass();
  }

 private:
  rng random_;
  uint64_t sized_for_ = 0;
  size_t sized_at_ = 0;
  size_t size_ = 1;
  uint64_t pause_for_ = 0;  // the chunk whose next slice must wait
  steady::time_point pause_until_{};
};

}  // namespace

std::shared_ptr<toxic_unit> make_slicer(unit_context ctx) { return std::make_shared<slicer>(std::move(ctx)); }

}  // namespace stampede::chaos::toxics
