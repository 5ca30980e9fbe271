#include "drill/failover_rpo.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace stampede::drill {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t wal_page_size = 8192;
constexpr uint64_t wal_segment_size = 16 * 1024 * 1024;
constexpr uint64_t short_page_header = 24;  // MAXALIGN(SizeOfXLogShortPHD)
constexpr uint64_t long_page_header = 40;   // MAXALIGN(SizeOfXLogLongPHD): a segment's first page

std::optional<uint64_t> hex_number(std::string_view text, uint64_t max) {
  if (text.empty() || text.size() > 8) return std::nullopt;
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 16);
  if (ec != std::errc{} || end != text.data() + text.size() || v > max) return std::nullopt;
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The number after `key` in `line` up to the first character in `stop`, trimmed.
std::string_view field_after(std::string_view line, std::string_view key, std::string_view stop) {
  const auto at = line.find(key);
  if (at == std::string_view::npos) return {};
  auto rest = line.substr(at + key.size());
  return trim(rest.substr(0, rest.find_first_of(stop)));
}

json::object not_measured(std::string reason, json::object with = {}) {
  with["measured"] = false;
  with["reason"] = std::move(reason);
  return with;
}

const json::object* leader_of(const json::array& members) {
  for (const auto& m : members) {
    if (!m.is_object()) continue;
    const auto* role = m.as_object().if_contains("role");
    if (role != nullptr && role->is_string() &&
        (role->as_string() == "leader" || role->as_string() == "primary"))
      return &m.as_object();
  }
  return nullptr;
}

// The highest timeline with a history file in `pg_wal` (1: none, the cluster's first timeline).
uint32_t latest_timeline(const fs::path& pg_wal, fs::path* history_file) {
  uint32_t best = 1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(pg_wal, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() != 16 || name.substr(8) != ".history") continue;
    if (const auto tli = hex_number(name.substr(0, 8), UINT32_MAX); tli && *tli > best) {
      best = static_cast<uint32_t>(*tli);
      if (history_file != nullptr) *history_file = e.path();
    }
  }
  return best;
}

// Runs `argv` with stdout and stderr into `output`, bounded: false when it could not start or was killed at
// the deadline. Its exit status does not matter: pg_waldump ends with an error at the end of valid WAL.
bool run_bounded(const std::vector<std::string>& argv, const fs::path& output,
                 std::chrono::seconds deadline) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);  // the drill blocks SIGINT/SIGTERM; the child must not inherit it
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return false;
  const auto until = std::chrono::steady_clock::now() + deadline;
  int status = 0;
  while (true) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return r == pid;
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a child with a deadline
  }
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The last line of pg_waldump's output that is not a record (its reason to stop), for the evidence.
std::string stop_reason(std::string_view output) {
  std::string last;
  size_t pos = 0;
  while (pos < output.size()) {
    const size_t nl = output.find('\n', pos);
    const auto line =
        trim(output.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    if (!line.empty() && line.rfind("rmgr:", 0) != 0) last = std::string(line);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return last.size() > 300 ? last.substr(0, 300) : last;
}

}  // namespace

std::optional<uint64_t> parse_lsn(std::string_view text) {
  text = trim(text);
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto hi = hex_number(text.substr(0, slash), UINT32_MAX);
  const auto lo = hex_number(text.substr(slash + 1), UINT32_MAX);
  if (!hi || !lo) return std::nullopt;
  return (*hi << 32) | *lo;
}

std::string format_lsn(uint64_t lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRIX32 "/%" PRIX32, static_cast<uint32_t>(lsn >> 32),
                static_cast<uint32_t>(lsn));
  return buf;
}

std::vector<timeline_fork> parse_timeline_history(std::string_view text) {
  std::vector<timeline_fork> out;
  size_t pos = 0;
  int number = 0;
  while (pos <= text.size()) {
    const size_t nl = text.find('\n', pos);
    const auto line =
        trim(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    ++number;
    if (!line.empty() && line.front() != '#') {
      // "1<TAB>0/3000148<TAB>no recovery target specified": PostgreSQL writes tabs; any blank separates.
      const auto sep = line.find_first_of(" \t");
      const auto rest = sep == std::string_view::npos ? std::string_view{} : trim(line.substr(sep));
      const auto lsn_text = rest.substr(0, rest.find_first_of(" \t"));
      uint32_t parent = 0;
      const auto tli_text = line.substr(0, sep);
      const auto [end, ec] = std::from_chars(tli_text.data(), tli_text.data() + tli_text.size(), parent);
      const auto lsn = parse_lsn(lsn_text);
      if (ec != std::errc{} || end != tli_text.data() + tli_text.size() || parent == 0 || !lsn) {
        throw std::invalid_argument("timeline history line " + std::to_string(number) + ": cannot read \"" +
                                    std::string(line.substr(0, 120)) +
                                    "\" (expected: timeline, X/Y switch point)");
      }
      out.push_back({parent, *lsn});
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return out;
}

std::optional<uint64_t> switch_point(const std::vector<timeline_fork>& history, uint32_t timeline) {
  for (const auto& f : history) {
    if (f.parent_timeline == timeline) return f.switch_lsn;
  }
  return std::nullopt;
}

uint64_t wal_record_end(uint64_t lsn, uint32_t total_length) {
  uint64_t pos = lsn;
  uint64_t remaining = total_length;
  while (remaining > 0) {
    const uint64_t page_end = (pos / wal_page_size + 1) * wal_page_size;
    if (remaining <= page_end - pos) {
      pos += remaining;
      break;
    }
    remaining -= page_end - pos;
    pos = page_end + (page_end % wal_segment_size == 0 ? long_page_header : short_page_header);
  }
  return (pos + 7) & ~uint64_t{7};
}

std::optional<uint64_t> last_record_end(std::string_view output) {
  std::optional<uint64_t> end;
  size_t pos = 0;
  while (pos < output.size()) {
    const size_t nl = output.find('\n', pos);
    const auto line = output.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (line.rfind("rmgr:", 0) == 0) {
      // "len (rec/tot):     54/    54, tx: ..., lsn: 0/01628E80, prev 0/01628E48, desc: ..."
      const auto lengths = field_after(line, "len (rec/tot):", ",");
      const auto total_text = trim(lengths.substr(
          lengths.find('/') == std::string_view::npos ? lengths.size() : lengths.find('/') + 1));
      uint32_t total = 0;
      const auto [p, ec] = std::from_chars(total_text.data(), total_text.data() + total_text.size(), total);
      const auto lsn = parse_lsn(field_after(line, "lsn:", ","));
      if (ec == std::errc{} && p == total_text.data() + total_text.size() && lsn)
        end = wal_record_end(*lsn, total);
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return end;
}

std::string pg_bin_dir_of(const std::vector<std::string>& shop_args) {
  std::string dir = "/usr/lib/postgresql/15/bin";
  for (size_t i = 0; i < shop_args.size(); ++i) {
    if (shop_args[i] == "--pg-bin" && i + 1 < shop_args.size())
      dir = shop_args[++i];
    else if (shop_args[i].rfind("--pg-bin=", 0) == 0)
      dir = shop_args[i].substr(9);
  }
  return dir;
}

namespace {

// One cluster's failover: its members at the start and now; names carry `prefix` (--shards: "shard1-").
json::value measure_members(const json::array& start_members, const json::array& now_members,
                            const std::string& prefix, const std::string& pg_bin_dir,
                            const std::string& scratch_dir) {
  const json::object* old_leader = leader_of(start_members);
  const json::object* new_leader = leader_of(now_members);
  if (old_leader == nullptr) return not_measured("no member led at the start");
  if (new_leader == nullptr)
    return not_measured("no member leads at the end: no new primary to compare with");
  const std::string old_name = prefix + std::string(old_leader->at("name").as_string());
  const std::string new_name = prefix + std::string(new_leader->at("name").as_string());
  if (old_name == new_name) return not_measured("no failover: " + old_name + " still leads");
  json::object out{{"old_primary", old_name}, {"new_primary", new_name}};
  // The old primary must be as the kill left it: a running postmaster would be writing (or rewinding) it.
  if (const auto pid = old_leader->at("postmaster_pid").to_number<int64_t>();
      pid > 0 && ::kill(pid, 0) == 0) {
    return not_measured("the old primary " + old_name + " still runs (postmaster " + std::to_string(pid) +
                            "): its WAL is not what the failover left",
                        std::move(out));
  }
  const fs::path old_wal = fs::path(std::string(old_leader->at("data_dir").as_string())) / "pg_wal";
  const fs::path new_wal = fs::path(std::string(new_leader->at("data_dir").as_string())) / "pg_wal";
  const uint32_t old_tli = latest_timeline(old_wal, nullptr);
  fs::path history_file;
  const uint32_t new_tli = latest_timeline(new_wal, &history_file);
  out["old_timeline"] = old_tli;
  out["new_timeline"] = new_tli;
  std::optional<uint64_t> fork;
  try {
    if (!history_file.empty()) fork = switch_point(parse_timeline_history(read_all(history_file)), old_tli);
  } catch (const std::invalid_argument& e) {
    return not_measured(history_file.string() + ": " + e.what(), std::move(out));
  }
  if (!fork && new_tli == old_tli) {
    return not_measured("no fork: " + new_name + " is still on timeline " + std::to_string(new_tli) + " of " +
                            old_name + " (it was not promoted)",
                        std::move(out));
  }
  if (!fork) {
    return not_measured("no fork: timeline " + std::to_string(new_tli) + " of " + new_name +
                            " does not descend from timeline " + std::to_string(old_tli) + " of " + old_name,
                        std::move(out));
  }
  out["switch_lsn"] = format_lsn(*fork);
  out["history_file"] = history_file.string();
  const fs::path dump = fs::path(scratch_dir) / ("pg_waldump-" + old_name + ".txt");
  const std::vector<std::string> argv{pg_bin_dir + "/pg_waldump", "--path=" + old_wal.string(),
                                      "--timeline=" + std::to_string(old_tli),
                                      "--start=" + format_lsn(*fork)};
  if (!run_bounded(argv, dump, std::chrono::seconds(30))) {
    return not_measured("could not run " + argv[0] + " within 30 s", std::move(out));
  }
  const std::string text = read_all(dump);
  const auto end = last_record_end(text);
  out["waldump_stop"] = stop_reason(text);
  // No record after the switch point (pg_waldump says so): the old primary wrote nothing the new one lacks.
  // Any other reason to find none (a missing segment, a permission) is no measurement.
  if (!end && text.find("could not find a valid record after") == std::string::npos) {
    std::string reason = "pg_waldump read no record of " + old_name + " after " + format_lsn(*fork) + ": " +
                         std::string(out["waldump_stop"].as_string());
    return not_measured(std::move(reason), std::move(out));
  }
  const uint64_t old_end = end.value_or(*fork);
  size_t records = 0;
  for (size_t at = text.find("rmgr:"); at != std::string::npos; at = text.find("\nrmgr:", at + 1)) ++records;
  out["old_end_lsn"] = format_lsn(old_end);
  out["rpo_wal_bytes"] = old_end > *fork ? old_end - *fork : 0;
  out["records_after_switch"] = records;
  out["measured"] = true;
  return out;
}

const json::array* array_at(const json::value& v, std::string_view key) {
  const auto* a = v.is_object() ? v.as_object().if_contains(key) : nullptr;
  return a != nullptr && a->is_array() ? &a->as_array() : nullptr;
}

}  // namespace

json::value measure_failover_rpo(const json::value& at_start, const json::value& now,
                                 const std::string& pg_bin_dir, const std::string& scratch_dir) {
  const auto database = [](const json::value& topology) -> json::value {
    const auto* db = topology.is_object() ? topology.as_object().if_contains("database") : nullptr;
    return db != nullptr ? *db : json::value{};
  };
  const json::value start_db = database(at_start), now_db = database(now);
  const json::array* start_shards = array_at(start_db, "shards");
  const json::array* now_shards = array_at(now_db, "shards");
  // --shards with --ha patroni: the shard whose leader changed (named "shardS-pgN"), else the first
  // shard's reason.
  if (start_shards != nullptr && now_shards != nullptr && !start_shards->empty() &&
      array_at(start_shards->at(0), "members") != nullptr) {
    json::value first;
    for (size_t s = 0; s < start_shards->size() && s < now_shards->size(); ++s) {
      const json::array* start_members = array_at(start_shards->at(s), "members");
      const json::array* now_members = array_at(now_shards->at(s), "members");
      if (start_members == nullptr || now_members == nullptr) continue;
      const auto* old_leader = leader_of(*start_members);
      const auto* new_leader = leader_of(*now_members);
      const bool changed = old_leader != nullptr &&
                           (new_leader == nullptr || old_leader->at("name") != new_leader->at("name"));
      auto r = measure_members(*start_members, *now_members, "shard" + std::to_string(s) + "-", pg_bin_dir,
                               scratch_dir);
      if (r.is_object()) r.as_object()["shard"] = s;
      if (changed) return r;
      if (first.is_null()) first = std::move(r);
    }
    if (first.is_object()) first.as_object()["reason"] = "no failover in any shard";
    return first;
  }
  const json::array* start_members = array_at(start_db, "members");
  const json::array* now_members = array_at(now_db, "members");
  if (start_members == nullptr || now_members == nullptr) return nullptr;
  return measure_members(*start_members, *now_members, "", pg_bin_dir, scratch_dir);
}

json::value measure_failover_rpo_safely(const json::value& at_start, const json::value& now,
                                        const std::vector<std::string>& directives,
                                        const std::vector<std::string>& shop_args,
                                        const std::string& scratch_dir) {
  std::vector<std::string> args = directives;
  args.insert(args.end(), shop_args.begin(), shop_args.end());
  try {
    return measure_failover_rpo(at_start, now, pg_bin_dir_of(args), scratch_dir);
  } catch (const std::exception& e) {
    return not_measured(std::string("unexpected topology: ") + e.what());
  }
}

void apply_failover_rpo(json::value& results) {
  auto* root = results.if_object();
  auto* drill = root != nullptr ? root->if_contains("drill") : nullptr;
  auto* failover =
      drill != nullptr && drill->is_object() ? drill->as_object().if_contains("failover") : nullptr;
  if (failover == nullptr || !failover->is_object()) return;
  const auto& f = failover->as_object();
  const bool measured = f.contains("measured") && f.at("measured").as_bool();
  std::string sentence;
  if (measured) {
    sentence = "RPO in WAL: " + std::to_string(f.at("rpo_wal_bytes").to_number<uint64_t>()) + " bytes that " +
               std::string(f.at("old_primary").as_string()) + " wrote past the switch point " +
               std::string(f.at("switch_lsn").as_string()) + " of " +
               std::string(f.at("new_primary").as_string()) + "'s timeline " +
               std::to_string(f.at("new_timeline").to_number<int64_t>()) + " (its end of WAL " +
               std::string(f.at("old_end_lsn").as_string()) + ")";
  } else {
    sentence = "RPO in WAL not measured: " + std::string(f.at("reason").as_string());
  }
  // The fault that killed the old primary, beside its recovery figures.
  if (auto* chaos = root->if_contains("chaos"); chaos != nullptr && chaos->is_array()) {
    for (auto& c : chaos->as_array()) {
      if (!c.is_object()) continue;
      auto& co = c.as_object();
      const auto* fault = co.if_contains("fault");
      const auto* target = co.if_contains("target");
      if (fault == nullptr || target == nullptr || !fault->is_string() || !target->is_string()) continue;
      const bool kills = fault->as_string() == "kill" || fault->as_string() == "terminate";
      // --shards: the shard's own target ("shard1-primary") names the failed-over shard.
      const std::string shard_primary =
          f.contains("shard") ? "shard" + std::to_string(f.at("shard").to_number<int64_t>()) + "-primary"
                              : "";
      const bool old_primary =
          target->as_string() == "primary" ||
          (!shard_primary.empty() && target->as_string() == shard_primary) ||
          (f.contains("old_primary") && target->as_string() == f.at("old_primary").as_string());
      if (kills && old_primary) co["rpo"] = f;
    }
  }
  // Invariants that ask for it, so that every report shows it beside the lost orders.
  auto* verify = root->if_contains("verify");
  auto* invariants =
      verify != nullptr && verify->is_object() ? verify->as_object().if_contains("invariants") : nullptr;
  if (invariants == nullptr || !invariants->is_array()) return;
  for (auto& inv : invariants->as_array()) {
    auto* evidence = inv.is_object() ? inv.as_object().if_contains("evidence") : nullptr;
    if (evidence == nullptr || !evidence->is_object()) continue;
    auto& e = evidence->as_object();
    const auto* asked = e.if_contains("rpo_wal_bytes");
    if (asked == nullptr || !asked->is_string() || asked->as_string() != "pending") continue;
    if (measured) {
      e["rpo_wal_bytes"] = f.at("rpo_wal_bytes");
      e["rpo_wal"] = f;
    } else {
      e["rpo_wal_bytes"] = nullptr;
      e["rpo_wal_reason"] = f.at("reason");
    }
    auto& detail = inv.as_object()["detail"];
    std::string text = detail.is_string() ? std::string(detail.as_string()) : std::string{};
    detail = text + (text.empty() ? "" : "; ") + sentence;
  }
}

std::string failover_rpo_line(const json::value& results) {
  const auto* root = results.if_object();
  const auto* drill = root != nullptr ? root->if_contains("drill") : nullptr;
  const auto* f =
      drill != nullptr && drill->is_object() ? drill->as_object().if_contains("failover") : nullptr;
  if (f == nullptr || !f->is_object()) return {};
  const auto& o = f->as_object();
  std::string who = "failover";
  if (o.contains("old_primary") && o.contains("new_primary")) {
    who += " " + std::string(o.at("old_primary").as_string()) + " -> " +
           std::string(o.at("new_primary").as_string());
  }
  if (!o.contains("measured") || !o.at("measured").as_bool()) {
    return who + ": RPO in WAL not measured: " + std::string(o.at("reason").as_string());
  }
  return who + ": RPO " + std::to_string(o.at("rpo_wal_bytes").to_number<uint64_t>()) +
         " bytes of WAL past the switch point " + std::string(o.at("switch_lsn").as_string()) + " (old end " +
         std::string(o.at("old_end_lsn").as_string()) + ", " +
         std::to_string(o.at("records_after_switch").to_number<int64_t>()) + " records)";
}

}  // namespace stampede::drill
