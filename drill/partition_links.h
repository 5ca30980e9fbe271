// The partition game day's links and probe (`stampede drill` on the reference shop with `--ha patroni`, for a
// scenario that asks with a `--@drill member-links` line: gameday_db_partition.lua, docs/DRILLS.md).
//
// Before the shop starts, a fault proxy on every link of every Patroni member pgK, so that cutting them cuts
// the member off while its processes run:
//   dcs:pgK          pgK's Patroni -> etcd (--dcs-via; a Patroni that cannot reach the DCS demotes itself),
//   postgres:pgK     the database HAProxy -> pgK's PostgreSQL (--postgres-via: the clients' path),
//   rest:pgK         HAProxy's health checks and the other members -> pgK's REST API (--rest-via),
//   replication:pgK  pgK's replicas -> pgK (--replication-via, as replication_links.h; made here unless the
//                    shop's arguments made them already).
// Ports are fixed first (--pg-ports, --rest-ports, --etcd-port) so that the proxies know their upstreams.
// After the shop starts: the chaos timeline's link groups (a network fault, e.g. `partition`, on `pgK` acts
// on pgK's links; on `primary`, on the links of the member whose Patroni REST API answers as leader when
// the fault fires, asked directly), and the write probe (write_probe.h) on every member's own port, told
// when the partition began; the scenario reads it at env.PARTITION_PROBE_URL.
//
// Thread-safety: add() and attach() on the drill's thread; the link groups are called by the run's chaos
// timeline (any thread; they only read what attach() set, and the probe is thread-safe).
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "chaos/proxy_server.h"
#include "loadgen/run.h"

namespace stampede::drill {

class write_probe;

class partition_links {
 public:
  // Whether the scenario asks for them: a line `--@drill member-links`. Throws std::runtime_error when the
  // file cannot be read.
  static bool requested(const std::string& scenario_path);

  partition_links();
  ~partition_links();  // stops the probe
  partition_links(const partition_links&) = delete;
  partition_links& operator=(const partition_links&) = delete;

  // The proxies (added to `proxies` and their entries to `links`) and the shop flags for them. Throws
  // std::invalid_argument when the arguments do not run Patroni (`--ha patroni`) or name a bad --replicas.
  std::vector<std::string> add(const std::vector<std::string>& shop_args, chaos::proxy_server& proxies,
                               boost::json::array& links);
  // With the shop running (its topology): starts the probe, sets run.link_groups and
  // run.env["PARTITION_PROBE_URL"]. Throws std::runtime_error when the probe cannot start.
  void attach(const boost::json::value& topology, loadgen::run_request& run);

 private:
  std::map<std::string, std::vector<std::string>> groups_;  // member -> its proxies
  std::vector<std::pair<std::string, uint16_t>> rest_;      // member -> its REST port (direct)
  std::shared_ptr<write_probe> probe_;
};

}  // namespace stampede::drill
