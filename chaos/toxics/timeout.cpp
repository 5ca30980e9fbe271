// timeout: a black hole. Every chunk is dropped; the connection is closed `timeout` ms after the toxic
// became active on it (0 = never, until removed). A timeout that dropped data leaves a corrupt stream:
// removing it closes the connection (as Toxiproxy), and an update keeps that mark.
#include "chaos/toxics/catalogue.h"

namespace stampede::chaos::toxics {
namespace {

class timeout final : public toxic_unit {
 public:
  using toxic_unit::toxic_unit;

  verdict on_data(head&, const env& e) override {
    if (!dropped_) record(e, "dropping data");
    dropped_ = true;
    return verdict::drop();
  }

  std::optional<steady::time_point> deadline() const override {
    if (spec().timeout <= 0) return std::nullopt;
    return context().activated + std::chrono::milliseconds(spec().timeout);
  }

  verdict on_deadline(const env& e) override {
    e.log.record(spec(), to_string(spec().stream), 0,
                 "closed after " + std::to_string(spec().timeout) + "ms");
    return verdict::close();
  }

  bool stream_corrupt() const override { return dropped_; }
  void inherit(const toxic_unit& previous) override { dropped_ = dropped_ || previous.stream_corrupt(); }

 private:
  bool dropped_ = false;
};

}  // namespace

std::shared_ptr<toxic_unit> make_timeout(unit_context ctx) {
  return std::make_shared<timeout>(std::move(ctx));
}

}  // namespace stampede::chaos::toxics
