// packet_loss: drops whole read chunks with `probability`; with probability `correlation` a chunk
// repeats the previous decision (a simple burst model). One decision per chunk.
#include "chaos/toxics/catalogue.h"

namespace stampede::chaos::toxics {
namespace {

class packet_loss final : public toxic_unit {
 public:
  explicit packet_loss(unit_context ctx) : toxic_unit(std::move(ctx)), random_(context().seed) {}

  verdict on_data(head& h, const env& e) override {
    if (decided_for_ == h.seq) return verdict::pass();  // kept: a partly written chunk stays kept
    decided_for_ = h.seq;
    const auto& t = spec();
    const bool lose = random_.unit() < t.correlation ? previous_ : random_.unit() < t.probability;
    previous_ = lose;
    if (!lose) return verdict::pass();
    record(e, "dropped " + std::to_string(h.remaining()) + " bytes");
    return verdict::drop();
  }

 private:
  rng random_;
  uint64_t decided_for_ = 0;
  bool previous_ = false;
};

}  // namespace

std::shared_ptr<toxic_unit> make_packet_loss(unit_context ctx) {
  return std::make_shared<packet_loss>(std::move(ctx));
}

}  // namespace stampede::chaos::toxics
