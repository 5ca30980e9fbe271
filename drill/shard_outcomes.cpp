#include "drill/shard_outcomes.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <map>

namespace stampede::drill {

namespace json = boost::json;

namespace {

int64_t count_at(const json::object& o, std::initializer_list<const char*> path) {
  const json::value* at = nullptr;
  const json::object* obj = &o;
  for (const char* key : path) {
    if (obj == nullptr) return 0;
    at = obj->if_contains(key);
    if (at == nullptr) return 0;
    obj = at->if_object();
  }
  return at != nullptr && at->is_number() ? at->to_number<int64_t>() : 0;
}

bool is_saga(const std::string& txn) { return txn.rfind("saga", 0) == 0; }

struct transaction {
  std::string base;
  int64_t seconds_ms = 0;  // the longest of its parts
  bool resolved = true;    // every part resolved
  int shards_in_doubt = 0;
};

}  // namespace

json::object shard_outcomes(const shard_outcome_inputs& in) {
  // Per distributed transaction (the gid without its ":SHARD"): its parts' longest time in doubt.
  std::map<std::string, transaction> by_base;
  for (const auto& r : in.in_doubt.records) {
    const std::string base = r.gid.substr(0, r.gid.rfind(':'));
    auto& t = by_base[base];
    t.base = base;
    const int64_t until = r.resolved_ms.value_or(in.end_ms);
    t.seconds_ms = std::max(t.seconds_ms, until - r.prepared_ms);
    t.resolved = t.resolved && r.resolved_ms.has_value();
    ++t.shards_in_doubt;
  }
  std::vector<transaction> all;
  for (auto& [base, t] : by_base) all.push_back(std::move(t));
  std::sort(all.begin(), all.end(), [](const transaction& a, const transaction& b) {
    return a.seconds_ms != b.seconds_ms ? a.seconds_ms > b.seconds_ms : a.base < b.base;
  });
  const auto threshold_ms = static_cast<int64_t>(in.stuck_threshold_s * 1000);
  int64_t stuck = 0, stuck_total_ms = 0, unresolved = 0, by_recovery = 0;
  json::array longest;
  for (const auto& t : all) {
    if (t.seconds_ms >= threshold_ms) {
      ++stuck;
      stuck_total_ms += t.seconds_ms;
    }
    if (!t.resolved) ++unresolved;
    if (t.resolved && t.seconds_ms >= in.lease_ms) ++by_recovery;
    if (longest.size() < 5 && t.seconds_ms >= threshold_ms) {
      longest.push_back(json::object{{"gid", t.base},
                                     {"seconds", static_cast<double>(t.seconds_ms) / 1000.0},
                                     {"resolved", t.resolved},
                                     {"parts_seen", t.shards_in_doubt}});
    }
  }
  const bool saga = is_saga(in.txn);
  const auto* outcomes = in.audit.if_contains("txn_outcomes");
  const json::object no_outcomes;
  const json::object& o = outcomes != nullptr && outcomes->is_object() ? outcomes->as_object() : no_outcomes;
  json::object orders{
      {"committed", count_at(o, {"cross_shard_orders"})},
      {"aborted", saga ? json::value(nullptr) : json::value(count_at(o, {"decisions", "abort"}))},
      {"compensated", saga ? json::value(count_at(o, {"sagas", "compensated"})) : json::value(nullptr)},
      {"resolved_by_recovery", saga ? json::value(nullptr) : json::value(by_recovery)},
      {"in_doubt", count_at(in.audit, {"prepared_transactions"}) + count_at(in.audit, {"sagas_open"})}};
  json::object out{
      {"txn", in.txn},
      {"shards", in.shards},
      {"audit_read", outcomes != nullptr && outcomes->is_object()},
      {"orders", std::move(orders)},
      {"in_doubt",
       json::object{{"transactions", static_cast<int64_t>(all.size())},
                    {"stuck", stuck},
                    {"stuck_threshold_s", in.stuck_threshold_s},
                    {"max_s", all.empty() ? 0.0 : static_cast<double>(all.front().seconds_ms) / 1000.0},
                    {"stuck_total_s", static_cast<double>(stuck_total_ms) / 1000.0},
                    {"unresolved", unresolved},
                    {"lease_s", static_cast<double>(in.lease_ms) / 1000.0},
                    {"sample_interval_ms", in.sample_interval_ms},
                    {"samples", in.in_doubt.samples},
                    {"failed_samples", in.in_doubt.failed_samples},
                    {"longest", std::move(longest)}}}};
  if (outcomes != nullptr && outcomes->is_object()) out["txn_outcomes"] = *outcomes;
  return out;
}

std::string shard_outcomes_line(const json::value& results) {
  const auto* root = results.if_object();
  const auto* drill = root != nullptr ? root->if_contains("drill") : nullptr;
  const auto* s = drill != nullptr && drill->is_object() ? drill->as_object().if_contains("shards") : nullptr;
  if (s == nullptr || !s->is_object()) return {};
  const auto& o = s->as_object();
  const auto& orders = o.at("orders").as_object();
  auto figure = [&](const char* key) {
    const auto& v = orders.at(key);
    return v.is_number() ? std::to_string(v.to_number<int64_t>()) : std::string{"-"};
  };
  const auto& d = o.at("in_doubt").as_object();
  char doubt[160];
  std::snprintf(doubt, sizeof doubt, "%lld stuck >= %.0f s, longest %.1f s, %lld unresolved",
                static_cast<long long>(d.at("stuck").to_number<int64_t>()),
                d.at("stuck_threshold_s").to_number<double>(), d.at("max_s").to_number<double>(),
                static_cast<long long>(d.at("unresolved").to_number<int64_t>()));
  return "cross-shard orders (" + std::string(o.at("txn").as_string()) + "): " + figure("committed") +
         " committed, " + figure("aborted") + " aborted, " + figure("compensated") + " compensated, " +
         figure("resolved_by_recovery") + " resolved by recovery, " + figure("in_doubt") +
         " still in doubt; in doubt: " + doubt;
}

}  // namespace stampede::drill
