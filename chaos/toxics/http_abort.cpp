// http_abort: answers matching requests with `status` (and `body`) instead of forwarding
// them; the request body is swallowed.
// Decided per request on the upstream direction: the proxy's HTTP stage calls on_request once a
// request head is complete (chaos/http_stage.h).
#include "chaos/toxics/catalogue.h"
#include "chaos/toxics/http_match.h"

namespace stampede::chaos::toxics {
namespace {

class http_abort final : public toxic_unit {
 public:
  using toxic_unit::toxic_unit;

  std::optional<request_fault> on_request(std::string_view method, std::string_view target, uint64_t index,
                                          const env& e) override {
    if (!request_hit(context(), method, target, index)) return std::nullopt;
    record(e, "status=" + std::to_string(spec().status) + " " + request_label(method, target), index);
    request_fault fault;
    fault.what = request_fault::kind::abort;
    fault.status = spec().status;
    fault.body = spec().body;
    fault.toxic = spec().name;
    return fault;
  }
};

}  // namespace

std::shared_ptr<toxic_unit> make_http_abort(unit_context ctx) {
  return std::make_shared<http_abort>(std::move(ctx));
}

}  // namespace stampede::chaos::toxics
