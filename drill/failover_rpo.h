// RPO in bytes of WAL after a PostgreSQL failover (`stampede drill` on `--ha patroni`): how much WAL the
// killed old primary had written beyond the point where the new primary's timeline forked from it.
//
// The switch point is exact: the new primary's timeline history file (pg_wal/0000000N.history, one line per
// ancestor: "parentTLI <tab> switchpoint <tab> reason") names the LSN where it left the old primary's
// timeline, the end of the last record it had replayed. The old primary's end of WAL is the end of the last
// valid record in its pg_wal, read after the kill (a kill is not healed: its data directory stays as the
// kill left it until the shop stops) with pg_waldump from the switch point on. RPO bytes = old end - switch
// (0 when it wrote nothing the new primary lacks). Those bytes hold every change the old primary made after
// the fork: commits of acknowledged orders (asynchronous replication), and also commits that were still
// waiting for the synchronous standby's confirmation (never acknowledged) and background records (e.g.
// checkpoints, vacuum), so bytes > 0 with no acknowledged order lost is a correct report in sync mode.
//
// Thread-safety: pure functions, and one blocking measurement on the caller's thread.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stampede::drill {

// "16/B374D848" -> 0x16B374D848 (PostgreSQL's X/Y form: high and low 32 bits in hex); nullopt otherwise.
std::optional<uint64_t> parse_lsn(std::string_view text);
// 0x16B374D848 -> "16/B374D848" (as PostgreSQL prints it).
std::string format_lsn(uint64_t lsn);

struct timeline_fork {
  uint32_t parent_timeline = 0;
  uint64_t switch_lsn = 0;  // where the next timeline begins (the end of the parent's last record it kept)
};
// The entries of a timeline history file; comment and blank lines are skipped. Throws
// std::invalid_argument naming the line for a line it cannot read.
std::vector<timeline_fork> parse_timeline_history(std::string_view text);
// Where a timeline whose history is `history` left `timeline`: nullopt when `timeline` is not among its
// ancestors (no fork from it: e.g. the same timeline, no promotion happened).
std::optional<uint64_t> switch_point(const std::vector<timeline_fork>& history, uint32_t timeline);

// The end of a WAL record of `total_length` bytes starting at `lsn`, as PostgreSQL's reader computes it:
// a record continues past a page boundary after the next page's header (24 bytes; 40 at the start of a
// segment), and the end is rounded up to 8 bytes. Pages of 8 KiB and segments of 16 MiB (initdb's
// defaults, which the shop uses).
uint64_t wal_record_end(uint64_t lsn, uint32_t total_length);

// The end of the last valid record in pg_waldump's output (record lines "rmgr: ... len (rec/tot): R/ T,
// ... lsn: X/Y, ..."); nullopt when there is no record line.
std::optional<uint64_t> last_record_end(std::string_view waldump_output);

// The measurement on the reference shop: `at_start` and `now` are the shop's topology at the start and at
// the end (their `database.members`: name, role, postmaster_pid, data_dir). The old primary is the member
// that led at the start; it must be gone (its postmaster no longer runs); the new primary is the member that
// leads now. Runs `pg_bin_dir/pg_waldump` (bounded, output into `scratch_dir`). Returns {measured: true,
// old_primary, new_primary, old_timeline, new_timeline, switch_lsn, old_end_lsn, rpo_wal_bytes} or
// {measured: false, reason} (not Patroni, no failover, the old primary still runs, no fork, pg_waldump
// failed...); null when the topology has no Patroni members at all. A sharded shop (`database.shards`, each
// with members: --shards with --ha patroni) is measured on the shard whose leader changed, its members named
// "shardS-pgN" and `shard: S` added ({measured: false, reason: "no failover in any shard"} when none did).
boost::json::value measure_failover_rpo(const boost::json::value& at_start, const boost::json::value& now,
                                        const std::string& pg_bin_dir, const std::string& scratch_dir);

// `--pg-bin DIR` among the shop's arguments (the last one), else PostgreSQL 15's Debian directory.
std::string pg_bin_dir_of(const std::vector<std::string>& shop_args);

// measure_failover_rpo for the drill's shop (its `--@shop` directives, then its --shop-arg flags), the
// output into `scratch_dir`; an unexpected topology is a measurement not made (with the reason), never an
// exception.
boost::json::value measure_failover_rpo_safely(const boost::json::value& at_start,
                                               const boost::json::value& now,
                                               const std::vector<std::string>& directives,
                                               const std::vector<std::string>& shop_args,
                                               const std::string& scratch_dir);

// Adds a measurement (results.drill.failover) to the results: to the fault that killed the old primary
// (`results.chaos[i].rpo`) and to every invariant whose evidence asks for it (`rpo_wal_bytes = "pending"`):
// the number (null when not measured, with `rpo_wal_reason`) and a sentence at the end of its detail.
void apply_failover_rpo(boost::json::value& results);

// The drill summary's line for results.drill.failover ("failover pg1 -> pg2: RPO 124752 bytes of WAL past
// 0/368D5C8 ..." or "...: RPO in WAL not measured: <reason>"); empty without one.
std::string failover_rpo_line(const boost::json::value& results);

}  // namespace stampede::drill
