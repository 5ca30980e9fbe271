#include "drill/split_brain.h"

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <unordered_set>

namespace stampede::drill {

namespace json = boost::json;

namespace {

// Each member's runs of consecutive acknowledged attempts, on the probe's clock.
std::vector<accepting_span> spans_of(std::span<const probe_attempt> attempts) {
  std::map<std::string, std::vector<const probe_attempt*>> by_member;
  for (const auto& a : attempts) by_member[a.member].push_back(&a);
  std::vector<accepting_span> out;
  for (auto& [member, list] : by_member) {
    std::stable_sort(list.begin(), list.end(), [](auto* a, auto* b) { return a->start_s < b->start_s; });
    std::optional<accepting_span> run;
    for (const auto* a : list) {
      if (a->outcome == probe_outcome::ok) {
        if (!run) run = accepting_span{member, a->start_s, a->end_s, 0};
        run->to_s = std::max(run->to_s, a->end_s);
        ++run->writes;
      } else if (run) {
        out.push_back(*run);
        run.reset();
      }
    }
    if (run) out.push_back(*run);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.from_s < b.from_s; });
  return out;
}

// Pairwise intersections of different members' spans, and the measure of their union.
void find_overlaps(split_brain_report& r) {
  for (size_t i = 0; i < r.spans.size(); ++i) {
    for (size_t j = i + 1; j < r.spans.size(); ++j) {
      const auto &a = r.spans[i], &b = r.spans[j];
      if (a.member == b.member) continue;
      const double from = std::max(a.from_s, b.from_s), to = std::min(a.to_s, b.to_s);
      if (to <= from) continue;
      r.overlaps.push_back(
          {std::min(a.member, b.member) + "+" + std::max(a.member, b.member), from, to, a.writes + b.writes});
    }
  }
  std::vector<std::pair<double, double>> intervals;
  for (const auto& o : r.overlaps) intervals.emplace_back(o.from_s, o.to_s);
  std::sort(intervals.begin(), intervals.end());
  double end = -1e300;
  for (const auto& [from, to] : intervals) {
    const double start = std::max(from, end);
    if (to > start) r.overlap_s += to - start;
    end = std::max(end, to);
  }
}

}  // namespace

split_brain_report analyse_split_brain(std::span<const probe_attempt> attempts,
                                       std::optional<partition_cut> cut) {
  split_brain_report r;
  r.attempts = static_cast<int>(attempts.size());
  r.cut = cut;
  r.spans = spans_of(attempts);
  find_overlaps(r);
  if (!cut) return r;
  const double t0 = cut->at_s;
  std::vector<const probe_attempt*> sorted;
  for (const auto& a : attempts) sorted.push_back(&a);
  std::stable_sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->start_s < b->start_s; });
  for (const auto* a : sorted) {
    if (a->member == cut->member) {
      if (a->end_s <= t0) {  // answered before the cut: was it accepting then?
        r.old_primary_accepting_at_cut = a->outcome == probe_outcome::ok;
        continue;
      }
      // In flight at the cut and acknowledged: neither before nor after (its commit may have replicated
      // before the cut); in flight and not acknowledged: the first sign that it stopped.
      if (a->outcome == probe_outcome::ok && a->start_s < t0) continue;
      if (a->outcome == probe_outcome::ok) {
        ++r.old_primary_acks_after_cut;
        r.old_primary_last_ack_s = a->end_s - t0;
      } else {
        if (!r.old_primary_stopped_s) r.old_primary_stopped_s = a->end_s - t0;
        if (!r.old_primary_refused_s && a->outcome == probe_outcome::refused)
          r.old_primary_refused_s = a->end_s - t0;
        ++(a->outcome == probe_outcome::unknown ? r.old_primary_unknown_after_cut
                                                : r.old_primary_refused_after_cut);
      }
    } else if (a->start_s >= t0 && a->outcome == probe_outcome::ok && r.new_primary.empty()) {
      r.new_primary = a->member;
      r.new_primary_first_ack_s = a->end_s - t0;
    }
  }
  for (auto& s : r.spans) {
    s.from_s -= t0;
    s.to_s -= t0;
  }
  for (auto& o : r.overlaps) {
    o.from_s -= t0;
    o.to_s -= t0;
  }
  return r;
}

durability_report check_acknowledged(std::span<const probe_attempt> attempts,
                                     std::span<const std::string> present, std::optional<partition_cut> cut) {
  const std::unordered_set<std::string> found(present.begin(), present.end());
  std::vector<const probe_attempt*> sorted;
  for (const auto& a : attempts) sorted.push_back(&a);
  std::stable_sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->start_s < b->start_s; });
  const double t0 = cut ? cut->at_s : 0;
  durability_report r;
  for (const auto* a : sorted) {
    if (a->outcome != probe_outcome::ok) continue;
    ++r.acknowledged;
    if (found.contains(a->token)) continue;
    ++r.lost_count;
    if (r.lost.size() < 100) r.lost.push_back(a->token);
    if (cut && a->start_s >= t0) ++r.lost_after_cut;
    if (!r.first_lost_s) r.first_lost_s = a->end_s - t0;
    r.last_lost_s = a->end_s - t0;
  }
  return r;
}

json::object to_json(const durability_report& r) {
  json::array lost;
  for (const auto& t : r.lost) lost.push_back(json::value(t));
  auto opt = [](const std::optional<double>& v) { return v ? json::value(*v) : json::value(nullptr); };
  return json::object{{"acknowledged", r.acknowledged},      {"lost", std::move(lost)},
                      {"lost_count", r.lost_count},          {"lost_after_cut", r.lost_after_cut},
                      {"first_lost_s", opt(r.first_lost_s)}, {"last_lost_s", opt(r.last_lost_s)}};
}

json::object to_json(const split_brain_report& r) {
  auto spans = [](const std::vector<accepting_span>& list) {
    json::array out;
    for (const auto& s : list) {
      out.push_back(
          json::object{{"member", s.member}, {"from_s", s.from_s}, {"to_s", s.to_s}, {"writes", s.writes}});
    }
    return out;
  };
  auto opt = [](const std::optional<double>& v) { return v ? json::value(*v) : json::value(nullptr); };
  json::object o{{"attempts", r.attempts},
                 {"spans", spans(r.spans)},
                 {"overlaps", spans(r.overlaps)},
                 {"overlap_s", r.overlap_s},
                 {"split_brain", !r.overlaps.empty()}};
  if (!r.cut) {
    o["cut"] = nullptr;
    return o;
  }
  o["cut"] = json::object{{"member", r.cut->member}, {"at_s", r.cut->at_s}};
  o["old_primary"] = r.cut->member;
  o["old_primary_accepting_at_cut"] = r.old_primary_accepting_at_cut;
  o["old_primary_last_ack_s"] = opt(r.old_primary_last_ack_s);
  o["old_primary_stopped_s"] = opt(r.old_primary_stopped_s);
  o["old_primary_refused_s"] = opt(r.old_primary_refused_s);
  o["old_primary_acks_after_cut"] = r.old_primary_acks_after_cut;
  o["old_primary_unknown_after_cut"] = r.old_primary_unknown_after_cut;
  o["old_primary_refused_after_cut"] = r.old_primary_refused_after_cut;
  o["new_primary"] = r.new_primary.empty() ? json::value(nullptr) : json::value(r.new_primary);
  o["new_primary_first_ack_s"] = opt(r.new_primary_first_ack_s);
  return o;
}

}  // namespace stampede::drill
