// The partition game day's analysis (gameday_db_partition.lua, docs/DRILLS.md): from small writes tried on
// every Patroni member directly (write_probe.h), when each member acknowledged writes, how long the member
// cut off kept acknowledging them after the cut, when another member started, and whether two members ever
// acknowledged writes at the same time (split brain).
//
// A member *accepts writes* over a run of consecutive acknowledged attempts on it, from the start of the
// first to the end of the last (a write acknowledged anywhere in that span is possible, so the span is the
// conservative one for a split-brain verdict). Two members' spans that intersect are a split brain: the
// overlap is reported in seconds, with each interval. An attempt that is not acknowledged (refused:
// read-only, no server; unknown: a commit whose answer never came, e.g. waiting for a synchronous standby
// that cannot answer) ends a member's run.
//
// Thread-safety: pure functions.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace stampede::drill {

enum class probe_outcome { ok, refused, unknown };

struct probe_attempt {
  std::string member;
  double start_s = 0;  // seconds on the probe's clock
  double end_s = 0;
  probe_outcome outcome = probe_outcome::refused;
  std::string token;  // the row it wrote (unique per attempt), to find it again at the end
};

struct partition_cut {
  std::string member;  // the member cut off (the resolved target: `primary` -> pg1)
  double at_s = 0;     // on the probe's clock
};

struct accepting_span {
  std::string member;
  double from_s = 0, to_s = 0;  // relative to the cut (or to the probe's clock without one)
  int writes = 0;               // acknowledged attempts in the span
};

struct split_brain_report {
  int attempts = 0;
  std::optional<partition_cut> cut;
  std::vector<accepting_span> spans;          // every member's, in time order
  std::vector<accepting_span> overlaps;       // member = "pgA+pgB": both accepted writes over [from_s, to_s]
  double overlap_s = 0;                       // total time two members or more accepted writes at once
  bool old_primary_accepting_at_cut = false;  // its last attempt answered before the cut was acknowledged
  // The old primary after the cut (times from the cut, at an attempt's end; acknowledged attempts count when
  // they began after the cut, the others when they ended after it): its last acknowledged write,
  // its first attempt not acknowledged, its first refused one (demoted: read-only, or stopped; `unknown`
  // attempts before it were commits left waiting).
  std::optional<double> old_primary_last_ack_s, old_primary_stopped_s, old_primary_refused_s;
  int old_primary_acks_after_cut = 0, old_primary_unknown_after_cut = 0, old_primary_refused_after_cut = 0;
  std::string new_primary;  // the first other member to acknowledge a write after the cut
  std::optional<double> new_primary_first_ack_s;  // its first acknowledged write after the cut (end)
};

// Whether every acknowledged write is still there at the end, on the member that leads then: the tokens
// of acknowledged attempts missing from `present` are lost (a failover that lost acknowledged writes, e.g.
// asynchronous replication after the old primary acknowledged writes on its side of the partition).
// Unknown attempts are not judged: they may or may not have committed.
struct durability_report {
  int acknowledged = 0;
  std::vector<std::string> lost;  // tokens, in attempt order (at most 100 listed)
  int lost_count = 0;
  int lost_after_cut = 0;                           // of them, acknowledged after the cut
  std::optional<double> first_lost_s, last_lost_s;  // their acknowledgements (end), relative to the cut
};
durability_report check_acknowledged(std::span<const probe_attempt> attempts,
                                     std::span<const std::string> present, std::optional<partition_cut> cut);
boost::json::object to_json(const durability_report& report);

// `attempts` in any order. Times in the report are relative to `cut` when there is one.
split_brain_report analyse_split_brain(std::span<const probe_attempt> attempts,
                                       std::optional<partition_cut> cut);

boost::json::object to_json(const split_brain_report& report);

}  // namespace stampede::drill
