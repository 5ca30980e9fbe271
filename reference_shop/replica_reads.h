// Reads from PostgreSQL replicas (`stampede shop --ha patroni --replica-reads off|on|read-your-writes`).
//
// Which reads go to a replica: a customer's order history (GET /api/orders) and one order's status (GET
// /api/orders/{id}). Both tolerate a little staleness (the order pipeline moves an order pending -> paid
// within seconds anyway) and are the reads that grow with customers, so they are what a shop offloads
// first. Everything else stays on the primary: writes; sessions (a login followed at once by a request on
// another node must find its session); product pages and lists (the cache is invalidated by a checkout and
// refilled by the next read: refilled from a lagging replica it would keep the old stock for a whole TTL).
//
// read-your-writes: a write (a checkout, a flash purchase) answers with a `last_write` cookie holding its
// time; a read whose cookie is younger than the pin window (default 5 s) goes to the primary, older or
// absent to a replica.
// It is the session-stickiness answer (what Rails' database selector does): it needs no LSN from the store
// and no second round trip, and a node knows it without shared state: the client carries it to whichever
// node HAProxy picks. Its limit: a replica lagging more than the window serves stale reads again (the
// drill's lag stays well inside it; read-your-writes-lsn below has no such limit). A client that forges the
// cookie only sends its own reads to the primary, at most as it could with a write every few seconds.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http_server.h"
#include "reference_shop/options.h"

namespace stampede::shop {

// read_your_writes_lsn (`read-your-writes-lsn`): a write answers with a `last_write_lsn` cookie holding the
// primary's WAL position after it (pg_current_wal_lsn()); a read with that cookie first waits, bounded
// (`lsn_wait`, 200 ms), until the replica has replayed that far (pg_last_wal_replay_lsn()), on the session
// it then reads on, and reads from the primary when it has not. No pin window: a replica lagging for
// minutes costs a bounded wait, never a stale read; a read without the cookie goes to the replica.
enum class replica_read_mode { off, on, read_your_writes, read_your_writes_lsn };

std::optional<replica_read_mode> parse_replica_read_mode(std::string_view text);
std::string_view to_string(replica_read_mode mode);

struct replica_read_options {
  replica_read_mode mode = replica_read_mode::off;
  std::string url;                      // the database HAProxy's /replica frontend (password: $PGPASSWORD)
  std::chrono::milliseconds pin{5000};  // read-your-writes: reads this long after a write go to the primary
  std::chrono::milliseconds lsn_wait{
      200};  // read-your-writes-lsn: the bound of a read's wait for its replica
};

inline constexpr std::string_view last_write_cookie = "last_write";
inline constexpr std::string_view last_write_lsn_cookie = "last_write_lsn";

// read-your-writes-lsn: the Set-Cookie value for a write that left the primary's WAL at `lsn` ("X/Y").
std::string last_write_lsn_set_cookie(std::string_view lsn);
// The `last_write_lsn` cookie when it is an LSN PostgreSQL reads ("X/Y", 1-8 hex digits each), else nullopt.
std::optional<std::string> last_write_lsn_of(const http::request& request);

// The Set-Cookie value for a write at `now_ms` (unix ms); the cookie expires with the pin window.
std::string last_write_set_cookie(int64_t now_ms, std::chrono::milliseconds pin);
// The `last_write` cookie's time, or nullopt when absent or not a number.
std::optional<int64_t> last_write_of(const http::request& request);
// Whether a staleness-tolerant read must go to the primary: always with `off`, never with `on`, and with
// read-your-writes when the client's last write is younger than `pin` (a time in the future counts as now).
bool read_from_primary(replica_read_mode mode, std::optional<int64_t> last_write_ms, int64_t now_ms,
                       std::chrono::milliseconds pin);

// `--replication-via pg1=127.0.0.1:P,pg2=...`: the address at which the other members replicate from each
// member (Patroni's connect_address: a fault proxy in front of its port). Throws std::invalid_argument
// naming the flag.
std::map<std::string, std::string> parse_replication_via(std::string_view text);

// The node's flags: --db-replica-url URL, --replica-reads MODE (needs the URL and --db-url),
// --replica-pin-ms. Throws std::invalid_argument naming the flag.
replica_read_options parse_node_replica_flags(const arg_list& a, const std::string& db_url);

// The supervisor's flags for replicas (`stampede shop`): --replica-reads off|on|read-your-writes,
// --replica-pin-ms MS, and the replication links' addresses for fault proxies (`stampede drill` passes them):
// --pg-ports P1,P2,... (members' PostgreSQL ports) and --replication-via pg1=HOST:PORT,...
struct replica_tier_options {
  replica_read_mode reads = replica_read_mode::off;
  std::chrono::milliseconds pin{5000};
  std::vector<uint16_t> pg_ports;
  std::map<std::string, std::string> replication_via;
};
// Throws std::invalid_argument naming the flag.
replica_tier_options parse_replica_tier_options(const arg_list& a);

}  // namespace stampede::shop
