// Backups of the reference shop's PostgreSQL server for the backup game day (`stampede shop --db postgres
// --wal-archive on`): a base backup with pg_basebackup, a named restore point, and a point-in-time restore
// into a fresh cluster (a copy of the base backup replaying the WAL archive up to the restore point), from
// which the shop's orders are read before the cluster is stopped and removed.
//
// Everything PostgreSQL runs as the server's user (`postgres` when we are root: it refuses root; the shop's
// postgres_server does the same), under a deadline, with its output in a log beside it. Every failure is a
// std::runtime_error of one line (the end of the tool's log where there is one).
//
// Thread-safety: the functions share no state; one backup directory belongs to one caller at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

namespace stampede::drill {

// What the shop's topology says of its archive (`database.wal_archive`, docs/SHOP.md).
struct backup_source {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string password;           // the `postgres` superuser's
  std::string database = "shop";  // the shop's database (where its orders are)
  std::filesystem::path archive_dir;
  std::string bin_dir;

  // nullopt when the topology has no `database.wal_archive` (SQLite, Patroni, --wal-archive off); throws
  // std::runtime_error naming the field when it is there but malformed.
  static std::optional<backup_source> from_topology(const boost::json::object& topology);
  std::string conninfo(const std::string& database = "postgres") const;  // key=value, superuser
};

struct base_backup {
  std::filesystem::path dir;
  uint64_t size_bytes = 0;
  double duration_s = 0;  // pg_basebackup's start to its exit
  std::string start_lsn;  // from backup_label
  std::string end_lsn;    // from backup_manifest's WAL-Ranges: a restore cannot stop before it
};

// pg_basebackup (-X stream, fast checkpoint) of `source` into `dir` (must not exist; its parent must be
// writable by the server's user). Throws on failure or when `timeout` passes (the tool is killed).
base_backup take_base_backup(const backup_source& source, const std::filesystem::path& dir,
                             std::chrono::seconds timeout);

// SELECT pg_create_restore_point(name) on the source; returns its LSN. `name`: letters, digits, `_-.`,
// 1..63 characters (std::invalid_argument otherwise).
std::string create_restore_point(const backup_source& source, const std::string& name);

// Switches the source to a new WAL segment and waits until the segment holding `lsn` is archived (a
// restore from the archive cannot reach a point whose WAL is still only in pg_wal). Returns the seconds
// waited; throws when `timeout` passes first or the source cannot be asked.
double wait_until_archived(const backup_source& source, const std::string& lsn, std::chrono::seconds timeout);

struct restore_result {
  double restore_s = 0;  // copy of the base backup + recovery, until the cluster accepts connections
  double copy_s = 0;
  double recovery_s = 0;      // the server's start until it accepts connections (promoted at the target)
  int restored_pid = -1;      // the restored cluster's postmaster (stopped and removed when this returns)
  std::string recovery_stop;  // the server's own "recovery stopping at restore point ..." log line
  // recovery_s in parts, from the server's log timestamps: {startup_s (start until recovery begins: mostly
  // the fsync of the copied data directory), replay_s (redo until the target), promote_s (the target until
  // it accepts connections: new timeline, end-of-recovery checkpoint)}; a part the log lacks is null.
  boost::json::object phases;
  boost::json::object orders;  // {total, keyed: [{id, user_id, key, status}]}
};

// A fresh cluster in `dir` (must not exist): a copy of `backup`, recovery.signal, restore_command from
// the archive, recovery_target_name = `target`, recovery_target_action = promote, hot_standby off (so
// connections are refused until the target is reached and the cluster promoted), a free port. Reads the
// orders of `source.database`, then stops the cluster and removes `dir`, also on failure. Throws when the
// target is not reached (the server's own FATAL line) or `timeout` passes.
restore_result point_in_time_restore(const backup_source& source, const base_backup& backup,
                                     const std::string& target, const std::filesystem::path& dir,
                                     std::chrono::seconds timeout);

// The phases of a restored server's log (restore_result::phases); lines start with "%m [%p] "
// ("2026-12-06 16:04:05.510 UTC [4407] ...").
boost::json::object recovery_phases(const std::filesystem::path& log);

// "0/3000028" -> bytes; nullopt when it is not an LSN.
std::optional<uint64_t> parse_lsn(const std::string& lsn);

}  // namespace stampede::drill
