// The drill's backup operator for the backup game day: a small HTTP API on 127.0.0.1 (an ephemeral port,
// `env.BACKUP_URL`, Bearer `env.BACKUP_TOKEN`) through which the scenario's own timeline takes base
// backups, marks restore points and asks for a point-in-time restore (pg_backup.h), so that the client-side
// times of each step are in the run's history next to the orders. It exists when the shop runs PostgreSQL
// with `--wal-archive on` (the topology's `database.wal_archive`).
//
//   POST /base-backup                 -> {name, dir, size_bytes, duration_s, start_lsn, end_lsn}
//   POST /restore-point {name}        -> {name, lsn}
//   POST /restore {target, backup?}   -> {target, target_lsn, backup, restore_s, copy_s, recovery_s,
//                                         archive_wait_s, wal_span_bytes, recovery_phases, recovery_stop,
//                                         restored_pid, orders_total, orders {total, keyed[]}}
//   GET  /status                      -> record()
//
// A restore uses the newest base backup that ended before the restore point (or the named one), into a
// fresh directory; the restored cluster is stopped and removed before the answer; a failed restore is
// recorded with its error. Errors answer 4xx/5xx {"error", "detail"}. Every step is bounded (base backup
// and restore 60 s each, the archive wait 30 s).
//
// Thread-safety: handlers run on the server's threads; the record is guarded by a mutex.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <boost/json/object.hpp>

#include "drill/pg_backup.h"

namespace stampede::drill {

class backup_service {
 public:
  // Listens at once; `work` (must exist): where backups and restores go (work/backup/).
  backup_service(backup_source source, const std::filesystem::path& work);
  ~backup_service();
  backup_service(const backup_service&) = delete;
  backup_service& operator=(const backup_service&) = delete;

  std::string url() const;
  const std::string& token() const noexcept;
  // What was done, for results.drill.backup: {archive_dir, archived_segments, base_backups[],
  // restore_points[], restores[] (without the orders)}.
  boost::json::object record() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The service for a shop whose topology has `database.wal_archive`, nullptr otherwise. Throws
// std::runtime_error when it is there but the service cannot start.
std::unique_ptr<backup_service> backup_service_for(const boost::json::object& topology,
                                                   const std::filesystem::path& work);

}  // namespace stampede::drill
