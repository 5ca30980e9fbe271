// Two-phase commit over the shop's shards: the coordinator, the decision log and recovery (two_phase.h).
#include "reference_shop/two_phase.h"

#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

#include "reference_shop/store.h"

namespace stampede::shop::two_phase {

namespace {

std::string shard_gid(std::string_view base, int shard) {
  return std::string{base} + ":" + std::to_string(shard);
}

std::string new_base_gid(std::string_view prefix, int home) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return std::string{prefix} + ":" + std::to_string(home) + ":" + std::to_string(random() >> 1);
}

// Ends whatever each session still has open (an open transaction, or its own prepared part); a session
// that cannot is discarded (the server rolls back an open transaction when its session goes; a prepared
// part stays for recovery, which rolls it back after the lease: there is no decision).
void roll_back(std::vector<pg_pool::lease>& open, const std::vector<int>& shards, const std::string& base,
               size_t prepared) {
  for (size_t i = 0; i < open.size(); ++i) {
    try {
      open[i]->exec(i < prepared ? "ROLLBACK PREPARED '" + shard_gid(base, shards[i]) + "'" : "ROLLBACK");
    } catch (const pg::error&) {
      open[i].discard();
    }
  }
  open.clear();
}

// COMMIT PREPARED / ROLLBACK PREPARED of one part; "does not exist" (42704) is a part another node (recovery)
// finished first.
void finish_part(pg::connection& db, const std::string& gid, bool commit) {
  try {
    db.exec((commit ? "COMMIT PREPARED '" : "ROLLBACK PREPARED '") + gid + "'");
  } catch (const pg::error& e) {
    if (e.sqlstate() != "42704") throw;
  }
}

// The decision, written on a fresh session of the home shard; the insert is idempotent, so a lost answer
// is asked again. Throws store_unavailable when the home shard cannot answer: the outcome is then unknown
// to us and recovery decides.
std::string decide_on(pg_pool& home, std::string_view gid, std::string_view wanted) {
  for (int attempt = 1;; ++attempt) {
    auto lease = home.acquire();
    try {
      return decide(*lease, gid, wanted);
    } catch (const pg::error& e) {
      if (!e.connection_lost()) throw;
      lease.discard();
      home.drop_idle();
      if (attempt >= 3) {
        throw store_unavailable("two-phase commit: the decision could not be recorded (" + e.reason() +
                                "); the outcome is unknown until recovery resolves it");
      }
    }
  }
}

std::optional<std::pair<int, int>> parse_gid(std::string_view gid, std::string_view prefix) {
  // PREFIX:HOME:RANDOM:SHARD
  if (gid.size() <= prefix.size() + 1 || gid.substr(0, prefix.size()) != prefix ||
      gid[prefix.size()] != ':') {
    return std::nullopt;
  }
  std::string_view rest = gid.substr(prefix.size() + 1);
  const auto first = rest.find(':'), last = rest.rfind(':');
  if (first == std::string_view::npos || first == last) return std::nullopt;
  try {
    return std::pair{std::stoi(std::string{rest.substr(0, first)}),
                     std::stoi(std::string{rest.substr(last + 1)})};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

protocol parse_protocol(std::string_view text) {
  if (text == "2pc") return protocol::two_phase;
  if (text == "2pc-no-decision-log") return protocol::two_phase_no_log;
  if (text == "saga") return protocol::saga;
  if (text == "saga-no-compensation") return protocol::saga_no_compensation;
  throw std::invalid_argument("--txn must be 2pc, saga, 2pc-no-decision-log or saga-no-compensation, not '" +
                              std::string{text} + "'");
}

point parse_fault(std::string_view text) {
  if (text == "after-prepare") return point::prepared;
  if (text == "after-decision") return point::decided;
  if (text == "after-first-commit") return point::first_committed;
  throw std::invalid_argument(
      "--txn-fault must be after-prepare, after-decision or after-first-commit, not '" + std::string{text} +
      "'");
}

std::string_view to_string(protocol p) noexcept {
  switch (p) {
    case protocol::two_phase:
      return "2pc";
    case protocol::two_phase_no_log:
      return "2pc-no-decision-log";
    case protocol::saga:
      return "saga";
    case protocol::saga_no_compensation:
      return "saga-no-compensation";
  }
  return "?";
}

std::string decide(pg::connection& db, std::string_view gid, std::string_view wanted) {
  db.query(
      "INSERT INTO txn_decisions(gid, decision, decided_at) VALUES ($1, $2, "
      "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint) ON CONFLICT (gid) DO NOTHING",
      gid, wanted);
  return decision_of(db, gid);
}

std::string decision_of(pg::connection& db, std::string_view gid) {
  auto r = db.query("SELECT decision FROM txn_decisions WHERE gid = $1", gid);
  return r.rows() > 0 ? r.text(0, 0) : std::string{};
}

outcome run(const std::vector<pg_pool*>& pools, const std::vector<int>& shards, int home,
            const coordinator_options& options, const shard_work& work, bool rerun_safe, run_stats* stats) {
  thread_local std::minstd_rand jitter{std::random_device{}()};
  if (shards.empty()) throw std::invalid_argument("two_phase::run: no shard");
  const bool one_phase = shards.size() == 1;
  if (stats) *stats = run_stats{!one_phase, {}};
  for (int attempt = 1;; ++attempt) {
    const bool last = attempt >= options.max_attempts;
    const std::string base = one_phase ? std::string{} : new_base_gid(options.gid_prefix, home);
    std::vector<pg_pool::lease> open;
    size_t prepared = 0;
    bool committing = false;
    try {
      for (const int s : shards) {  // ascending: one global lock order across shards
        open.push_back(pools.at(static_cast<size_t>(s))->acquire());
        open.back()->exec("BEGIN ISOLATION LEVEL READ COMMITTED");
        work(s, *open.back());
      }
      if (one_phase) {
        committing = true;
        open.front()->commit();
        return outcome::committed;
      }
      for (size_t i = 0; i < open.size(); ++i) {
        open[i]->exec("PREPARE TRANSACTION '" + shard_gid(base, shards[i]) + "'");
        ++prepared;
      }
    } catch (const abort_transaction&) {
      roll_back(open, shards, base, prepared);
      return outcome::aborted;
    } catch (const rerun_transaction&) {
      roll_back(open, shards, base, prepared);
      return outcome::rerun;
    } catch (const store_unavailable&) {
      roll_back(open, shards, base, prepared);
      throw;
    } catch (const pg::error& e) {
      if (committing) {  // the one-phase COMMIT: its outcome is unknown
        open.front().discard();
        if (!rerun_safe || last) {
          throw store_unavailable(
              "the database connection was lost while committing; the outcome is unknown");
        }
        continue;
      }
      // Before the commit point: undo what can be undone; a part whose PREPARE's answer was lost is in
      // doubt without a decision, so recovery rolls it back after the lease.
      roll_back(open, shards, base, prepared);
      if ((e.retryable() || e.connection_lost()) && !last) {
        std::this_thread::sleep_for(std::chrono::microseconds(200 * attempt + jitter() % 1000));
        continue;
      }
      if (e.retryable() || e.connection_lost()) throw store_unavailable("two-phase commit: " + e.reason());
      if (e.canceled()) throw store_unavailable("two-phase commit: statement timeout: " + e.reason());
      throw;
    }
    open.clear();  // every session is idle after PREPARE: back to the pools
    if (stats) stats->gid = base;
    if (options.hook && !options.hook(point::prepared, base)) {
      throw store_unavailable("two-phase commit abandoned after PREPARE (test seam)");
    }
    // The commit point. The broken mode skips it: nothing durable says "commit" until every part is
    // committed, so a coordinator that dies half-way leaves parts that recovery rolls back.
    const std::string decision = options.mode == protocol::two_phase_no_log
                                     ? std::string{"commit"}
                                     : decide_on(*pools.at(static_cast<size_t>(home)), base, "commit");
    if (options.hook && !options.hook(point::decided, base)) {
      throw store_unavailable("two-phase commit abandoned after the decision (test seam)");
    }
    const bool commit = decision == "commit";
    for (const int s : shards) {
      try {
        auto lease = pools.at(static_cast<size_t>(s))->acquire();
        try {
          finish_part(*lease, shard_gid(base, s), commit);
        } catch (const pg::error& e) {
          if (e.connection_lost()) lease.discard();
        }
      } catch (const store_unavailable&) {
        // The shard is out of reach: its part stays prepared until recovery applies the decision.
      }
      if (s == shards.front() && options.hook && !options.hook(point::first_committed, base)) {
        throw store_unavailable("two-phase commit abandoned after the first COMMIT PREPARED (test seam)");
      }
    }
    if (!commit)
      throw store_unavailable("two-phase commit: recovery decided abort first; nothing was changed");
    return outcome::committed;
  }
}

recovery_report recover(const std::vector<pg_pool*>& pools, std::string_view gid_prefix,
                        std::chrono::milliseconds lease) {
  recovery_report report;
  for (size_t s = 0; s < pools.size(); ++s) {
    try {
      auto session = pools[s]->acquire();
      auto r = session->query(
          "SELECT gid, prepared < now() - make_interval(secs => $2::bigint / 1000.0) FROM pg_prepared_xacts "
          "WHERE database = current_database() AND left(gid, length($1) + 1) = $1 || ':' ORDER BY prepared",
          gid_prefix, static_cast<int64_t>(lease.count()));
      for (int i = 0; i < r.rows(); ++i) {
        const std::string gid = r.text(i, 0);
        const auto parsed = parse_gid(gid, gid_prefix);
        // Another shard's part (several shards' schemas on one server, as in tests), or not ours.
        if (!parsed || parsed->second != static_cast<int>(s)) continue;
        if (r.text(i, 1) != "t" || parsed->first < 0 || parsed->first >= static_cast<int>(pools.size())) {
          ++report.left;
          continue;
        }
        const std::string base = gid.substr(0, gid.rfind(':'));
        std::string decision;
        if (parsed->first == static_cast<int>(s)) {
          decision = decide(*session, base, "abort");
        } else {
          auto home = pools[static_cast<size_t>(parsed->first)]->acquire();
          decision = decide(*home, base, "abort");
        }
        finish_part(*session, gid, decision == "commit");
        ++(decision == "commit" ? report.committed : report.rolled_back);
      }
    } catch (const pg::error&) {
      ++report.left;  // the next pass tries again
    } catch (const store_unavailable&) {
      ++report.left;
    }
  }
  return report;
}

int64_t collect_decisions(const std::vector<pg_pool*>& pools, std::string_view gid_prefix,
                          std::chrono::milliseconds retention) {
  // Every transaction with a part still prepared anywhere, read from every shard before any delete: a
  // decision is written only after its transaction's last PREPARE, so a part prepared after this read
  // belongs to a decision younger than the retention.
  std::string in_doubt = "{";
  try {
    for (auto* pool : pools) {
      auto session = pool->acquire();
      auto r = session->query(
          "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND left(gid, length($1) + "
          "1) "
          "= $1 || ':'",
          gid_prefix);
      for (int i = 0; i < r.rows(); ++i) {
        const std::string gid = r.text(i, 0);
        in_doubt += (in_doubt.size() > 1 ? ",\"" : "\"") + gid.substr(0, gid.rfind(':')) + "\"";
      }
    }
  } catch (const pg::error&) {
    return 0;
  } catch (const store_unavailable&) {
    return 0;
  }
  in_doubt += "}";
  int64_t deleted = 0;
  for (auto* pool : pools) {
    try {
      auto session = pool->acquire();
      deleted += session
                     ->query(
                         "DELETE FROM txn_decisions WHERE gid IN (SELECT gid FROM txn_decisions WHERE "
                         "decided_at < (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint - $1 AND "
                         "gid <> ALL($2::text[]) ORDER BY decided_at LIMIT 10000)",
                         static_cast<int64_t>(retention.count()), in_doubt)
                     .affected();
    } catch (const pg::error&) {
    } catch (const store_unavailable&) {
      // this shard's old decisions wait for the next pass
    }
  }
  return deleted;
}

int64_t prepared_count(pg::connection& db, std::string_view gid_prefix) {
  return db
      .query(
          "SELECT COUNT(*) FROM pg_prepared_xacts WHERE database = current_database() AND "
          "left(gid, length($1) + 1) = $1 || ':'",
          gid_prefix)
      .int64(0, 0);
}

}  // namespace stampede::shop::two_phase
