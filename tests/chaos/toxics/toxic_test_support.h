// Toxic units tested alone: a fixed clock (units take time only from env::now), a reporter that keeps
// what was logged, and a factory. No sockets, no threads; seeded randomness.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "chaos/toxics/catalogue.h"

namespace stampede::chaos::toxics::testing {

using namespace std::chrono_literals;

inline const steady::time_point t0 = steady::time_point{} + 1h;

struct logged {
  std::string toxic, direction, detail;
  uint64_t request = 0;
};

class capture final : public reporter {
 public:
  void record(const toxic_spec& toxic, std::string_view direction, uint64_t request,
              std::string detail) override {
    entries.push_back({toxic.name, std::string(direction), std::move(detail), request});
  }
  env at(steady::time_point now) { return env{now, *this}; }
  std::vector<logged> entries;
};

struct unit_options {
  uint64_t seed = 7;
  std::string direction = "downstream";
  steady::time_point activated = t0;
  steady::time_point connection_start = t0;
  std::shared_ptr<std::atomic<int64_t>> budget = std::make_shared<std::atomic<int64_t>>(0);
};

inline std::shared_ptr<toxic_unit> make(toxic_spec spec, unit_options o = {}) {
  spec.validate_and_normalize();
  return make_unit(unit_context{.spec = std::make_shared<const toxic_spec>(std::move(spec)),
                                .direction = o.direction,
                                .seed = o.seed,
                                .activated = o.activated,
                                .connection_start = o.connection_start,
                                .budget = o.budget});
}

inline toxic_spec spec_of(toxic_type type) {
  toxic_spec t;
  t.type = type;
  t.stream = is_http_toxic(type) ? stream_direction::upstream : stream_direction::downstream;
  return t;
}

// A chunk of `size` bytes received at `received`.
inline head chunk(uint64_t seq, size_t size, steady::time_point received = t0, size_t offset = 0) {
  head h;
  h.seq = seq;
  h.size = size;
  h.offset = offset;
  h.received = received;
  return h;
}

inline bool waits_until(const verdict& v, steady::time_point t) {
  return v.what == verdict::action::wait && v.until == t;
}

}  // namespace stampede::chaos::toxics::testing
