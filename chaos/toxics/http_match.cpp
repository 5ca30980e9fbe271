#include "chaos/toxics/http_match.h"

namespace stampede::chaos::toxics {

bool request_hit(const unit_context& ctx, std::string_view method, std::string_view target, uint64_t index) {
  const toxic_spec& t = *ctx.spec;
  if (!t.method.empty() && t.method != method) return false;
  if (!path_matches(t.path, target)) return false;
  if (!roll(derive(ctx.seed, index), t.toxicity)) return false;
  return t.first_n <= 0 || (ctx.budget && ctx.budget->fetch_add(1) < t.first_n);
}

std::string request_label(std::string_view method, std::string_view target) {
  return std::string(method) + " " + std::string(target.substr(0, 200));
}

}  // namespace stampede::chaos::toxics
