#include "drill/shard_gameday.h"

#include <boost/json.hpp>
#include <chrono>

#include "common/http_client.h"
#include "drill/replication_links.h"
#include "drill/shard_outcomes.h"

namespace stampede::drill {

namespace json = boost::json;

std::unique_ptr<in_doubt_sampler> in_doubt_sampler_for(const json::object& topology) {
  const auto* db = topology.if_contains("database");
  const auto* shards = db != nullptr && db->is_object() ? db->as_object().if_contains("shards") : nullptr;
  if (shards == nullptr || !shards->is_array() || shards->as_array().empty()) return nullptr;
  std::vector<in_doubt_shard> list;
  for (const auto& s : shards->as_array()) {
    list.push_back(
        {static_cast<int>(s.at("shard").to_number<int64_t>()), std::string(s.at("url").as_string())});
  }
  return std::make_unique<in_doubt_sampler>(std::move(list));
}

json::object measure_shard_outcomes(in_doubt_sampler& sampler, const json::object& topology,
                                    uint16_t entry_port, const std::string& token,
                                    const std::vector<std::string>& shop_args) {
  sampler.stop();
  shard_outcome_inputs in;
  in.in_doubt = sampler.tracker();
  in.sample_interval_ms = sampler.interval().count();
  in.end_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  const auto& db = topology.at("database").as_object();
  if (const auto* txn = db.if_contains("txn"); txn != nullptr && txn->is_string()) in.txn = txn->as_string();
  in.shards = static_cast<int>(db.at("shards").as_array().size());
  if (const auto lease = shop_flag_value(shop_args, "--txn-lease-ms")) {
    try {
      in.lease_ms = std::stoll(*lease);
    } catch (const std::exception&) {
      // the shop refused it already; the default stands
    }
  }
  // --txn-hold-ms: every transaction waits that long prepared by design; "stuck" is 1 s beyond it.
  if (const auto hold = shop_flag_value(shop_args, "--txn-hold-ms")) {
    try {
      in.stuck_threshold_s = 1.0 + static_cast<double>(std::stoll(*hold)) / 1000.0;
    } catch (const std::exception&) {
      // the shop refused it already
    }
  }
  std::string error;
  try {
    http::blocking_client client("127.0.0.1", entry_port, std::chrono::seconds{30});
    auto res = client.request("GET", "/api/admin/audit", {}, {{"Authorization", "Bearer " + token}});
    if (res.status == 200) {
      in.audit = json::parse(res.body).as_object();
    } else {
      error = "the audit answered " + std::to_string(res.status);
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  json::object out = shard_outcomes(in);
  if (!error.empty()) out["audit_error"] = error;
  return out;
}

}  // namespace stampede::drill
