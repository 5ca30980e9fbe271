#include "distributed/leases.h"

namespace stampede::distributed {

std::string_view to_string(lease_state state) noexcept {
  switch (state) {
    case lease_state::free:
      return "free";
    case lease_state::leased:
      return "leased";
    case lease_state::running:
      return "running";
    case lease_state::finished:
      return "finished";
    case lease_state::lost:
      return "lost";
  }
  return "free";
}

lease_table::lease_table(int shards) {
  for (int i = 0; i < shards; ++i) leases_.push_back(lease{.shard = i});
}

lease* lease_table::held_by(const std::string& agent) {
  for (lease& l : leases_) {
    if (l.state != lease_state::free && l.agent == agent) return &l;
  }
  return nullptr;
}

registration lease_table::register_agent(const std::string& agent, std::optional<int> hint, int64_t offset_us,
                                         int64_t round_trip_us, std::chrono::steady_clock::time_point now) {
  const int count = static_cast<int>(leases_.size());
  if (hint && (*hint < 0 || *hint >= count)) {
    return {.error = "shard hint " + std::to_string(*hint) + " is outside 0.." + std::to_string(count - 1),
            .status = 400};
  }
  const auto grant = [&](lease& l) {
    l.agent = agent;
    l.offset_us = offset_us;
    l.round_trip_us = round_trip_us;
    l.last_seen = now;
    return registration{.shard = l.shard};
  };
  if (lease* held = held_by(agent); held && (!hint || *hint == held->shard)) {
    if (held->state == lease_state::leased) return grant(*held);  // a retried registration: the same answer
    return {.error = "shard " + std::to_string(held->shard) + " already " +
                     std::string(to_string(held->state)) + " (agent " + agent +
                     "): its load does not run twice",
            .status = 409};
  }
  const registration too_late{.error = "the run has started: no shard is handed out any more", .status = 409};
  if (hint) {
    lease& l = leases_[static_cast<size_t>(*hint)];
    if (started_ && l.state == lease_state::free) return too_late;
    if (l.state == lease_state::free || l.state == lease_state::leased) {
      if (lease* other = held_by(agent)) *other = lease{.shard = other->shard};  // moves to its hinted shard
      l.state = lease_state::leased;
      return grant(l);
    }
    return {.error = "shard " + std::to_string(*hint) + " already " + std::string(to_string(l.state)) +
                     " (agent " + l.agent + "): its load does not run twice",
            .status = 409};
  }
  if (started_) return too_late;
  for (lease& l : leases_) {
    if (l.state == lease_state::free) {
      l.state = lease_state::leased;
      return grant(l);
    }
  }
  return {.error = "all " + std::to_string(count) + " shards are leased", .status = 409};
}

std::string lease_table::missing() const {
  std::string out;
  for (const lease& l : leases_) {
    if (l.state != lease_state::free) continue;
    if (!out.empty()) out += ", ";
    out += std::to_string(l.shard);
  }
  return out;
}

int lease_table::leased() const {
  int n = 0;
  for (const lease& l : leases_) n += l.state != lease_state::free ? 1 : 0;
  return n;
}

void lease_table::start(std::chrono::steady_clock::time_point now) {
  started_ = true;
  for (lease& l : leases_) {
    if (l.state == lease_state::leased) {
      l.state = lease_state::running;
      l.last_seen = now;
    }
  }
}

}  // namespace stampede::distributed
