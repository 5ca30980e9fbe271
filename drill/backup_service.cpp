#include "drill/backup_service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <vector>

#include <boost/json.hpp>

#include "common/http_server.h"
#include "reference_shop/child_process.h"
#include "reference_shop/passwords.h"

namespace stampede::drill {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr std::chrono::seconds step_timeout{60};
constexpr std::chrono::seconds archive_timeout{30};

struct named_backup {
  std::string name;
  base_backup backup;
};

struct restore_point {
  std::string name, lsn;
};

// A client's mistake: answered 400 with its message.
struct bad_request : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

std::string field(const json::object& body, const char* key, bool required = true) {
  const auto* v = body.if_contains(key);
  if (v == nullptr || v->is_null()) {
    if (required) throw bad_request(std::string{"'"} + key + "' is missing");
    return {};
  }
  if (!v->is_string()) throw bad_request(std::string{"'"} + key + "' must be a string");
  return std::string{v->as_string()};
}

json::object body_of(const http::request& req) {
  if (req.body.empty()) return {};
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  if (ec || !v.is_object()) throw bad_request("the body must be a JSON object");
  return std::move(v.as_object());
}

json::object to_json(const named_backup& b) {
  return {{"name", b.name},
          {"dir", b.backup.dir.string()},
          {"size_bytes", b.backup.size_bytes},
          {"duration_s", b.backup.duration_s},
          {"start_lsn", b.backup.start_lsn},
          {"end_lsn", b.backup.end_lsn}};
}

}  // namespace

struct backup_service::impl {
  backup_source source;
  fs::path dir;  // work/backup, the server's user's
  std::string token = shop::random_token();
  mutable std::mutex mutex;
  std::vector<named_backup> backups;
  std::vector<restore_point> points;
  json::array restores;  // without their orders
  int restores_started = 0;
  std::unique_ptr<http::server> server;

  http::response handle(http::request& req) {
    if (req.header("Authorization") != "Bearer " + token) {
      return http::response::error(401, "unauthorized", "Authorization: Bearer env.BACKUP_TOKEN");
    }
    const std::string path{req.path()};
    try {
      if (req.method == "GET" && path == "/status")
        return http::response::json(200, json::serialize(record()));
      if (req.method != "POST") return http::response::error(405, "method_not_allowed");
      if (path == "/base-backup") return http::response::json(201, json::serialize(take_backup()));
      if (path == "/restore-point") return http::response::json(201, json::serialize(mark(body_of(req))));
      if (path == "/restore") return http::response::json(200, json::serialize(restore(body_of(req))));
      return http::response::error(404, "not_found",
                                   "POST /base-backup, /restore-point, /restore; GET /status");
    } catch (const std::invalid_argument& e) {  // bad_request, and a bad name for PostgreSQL
      return http::response::error(400, "bad_request", e.what());
    } catch (const std::exception& e) {
      return http::response::error(500, "backup_failed", e.what());
    }
  }

  json::object take_backup() {
    std::string name;
    {
      std::lock_guard lock{mutex};
      name = "base" + std::to_string(backups.size() + 1);
      backups.push_back({name, {}});  // reserves the name; filled below
    }
    base_backup b;
    try {
      b = take_base_backup(source, dir / name, step_timeout);
    } catch (...) {
      std::lock_guard lock{mutex};
      std::erase_if(backups, [&](const named_backup& x) { return x.name == name; });
      throw;
    }
    std::lock_guard lock{mutex};
    for (auto& x : backups) {
      if (x.name == name) x.backup = b;
    }
    return to_json({name, b});
  }

  json::object mark(const json::object& body) {
    const std::string name = field(body, "name");
    {
      std::lock_guard lock{mutex};
      for (const auto& p : points) {
        if (p.name == name) throw bad_request("restore point '" + name + "' exists already");
      }
    }
    const std::string lsn = create_restore_point(source, name);
    std::lock_guard lock{mutex};
    points.push_back({name, lsn});
    return {{"name", name}, {"lsn", lsn}};
  }

  // The named backup, else the newest one that ended before the restore point (PostgreSQL cannot stop
  // recovery before the backup's end LSN: the data is consistent only from there).
  std::pair<named_backup, restore_point> choose(const std::string& target, const std::string& backup_name) {
    std::lock_guard lock{mutex};
    std::optional<restore_point> point;
    for (const auto& p : points) {
      if (p.name == target) point = p;
    }
    if (!point) throw bad_request("no restore point named '" + target + "' was made in this drill");
    const auto point_lsn = parse_lsn(point->lsn).value_or(0);
    const named_backup* chosen = nullptr;
    for (const auto& b : backups) {
      if (b.backup.dir.empty()) continue;  // still running
      if (!backup_name.empty() ? b.name == backup_name
                               : parse_lsn(b.backup.end_lsn).value_or(UINT64_MAX) <= point_lsn) {
        chosen = &b;
      }
    }
    if (chosen == nullptr) {
      throw bad_request(backup_name.empty() ? "no base backup was taken before restore point '" + target + "'"
                                            : "no base backup named '" + backup_name + "'");
    }
    return {*chosen, *point};
  }

  json::object restore(const json::object& body) {
    auto [backup, point] = choose(field(body, "target"), field(body, "backup", false));
    int n = 0;
    {
      std::lock_guard lock{mutex};
      n = ++restores_started;
    }
    restore_result r;
    double waited = 0;
    try {
      waited = wait_until_archived(source, point.lsn, archive_timeout);
      r = point_in_time_restore(source, backup.backup, point.name, dir / ("restore" + std::to_string(n)),
                                step_timeout);
    } catch (const std::exception& e) {
      std::lock_guard lock{mutex};  // a failed restore is part of the record too
      restores.push_back(json::object{{"target", point.name}, {"backup", backup.name}, {"error", e.what()}});
      throw;
    }
    // The LSN distance from the backup's start to the target: the WAL recovery walks through (segment
    // switches by archive_timeout included, so an upper bound of what was replayed).
    const auto from = parse_lsn(backup.backup.start_lsn), to = parse_lsn(point.lsn);
    json::object out{{"target", point.name},
                     {"target_lsn", point.lsn},
                     {"backup", backup.name},
                     {"restore_s", r.restore_s},
                     {"copy_s", r.copy_s},
                     {"recovery_s", r.recovery_s},
                     {"archive_wait_s", waited},
                     {"wal_span_bytes", from && to && *to > *from ? json::value(*to - *from) : json::value()},
                     {"recovery_phases", r.phases},
                     {"recovery_stop", r.recovery_stop},
                     {"restored_pid", r.restored_pid},
                     {"orders_total", r.orders.at("total")}};
    {
      std::lock_guard lock{mutex};
      restores.push_back(out);
    }
    out["orders"] = std::move(r.orders);
    return out;
  }

  json::object record() const {
    std::lock_guard lock{mutex};
    json::array b, p;
    for (const auto& x : backups) {
      if (!x.backup.dir.empty()) b.push_back(to_json(x));
    }
    for (const auto& x : points) p.push_back(json::object{{"name", x.name}, {"lsn", x.lsn}});
    int64_t segments = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator(source.archive_dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      segments += it->path().filename().string().size() == 24 ? 1 : 0;
    }
    return {{"archive_dir", source.archive_dir.string()},
            {"archived_segments", segments},
            {"base_backups", std::move(b)},
            {"restore_points", std::move(p)},
            {"restores", restores}};
  }
};

backup_service::backup_service(backup_source source, const fs::path& work) : impl_(std::make_unique<impl>()) {
  impl_->source = std::move(source);
  impl_->dir = work / "backup";
  std::error_code ec;
  fs::create_directory(impl_->dir, ec);
  const auto account = shop::postgres_account();
  if (ec || !account || ::chown(impl_->dir.c_str(), account->uid, account->gid) != 0 ||
      ::chmod(impl_->dir.c_str(), 0700) != 0) {
    throw std::runtime_error("cannot make " + impl_->dir.string() + " for the postgres user" +
                             (ec           ? ": " + ec.message()
                              : errno != 0 ? ": " + std::string{std::strerror(errno)}
                                           : ""));
  }
  http::server_options o;
  o.threads = 2;  // a restore point is not held up by a running base backup
  impl_->server =
      std::make_unique<http::server>(o, [this](http::request& req) { return impl_->handle(req); });
  impl_->server->start();
}

std::unique_ptr<backup_service> backup_service_for(const json::object& topology, const fs::path& work) {
  auto source = backup_source::from_topology(topology);
  if (!source) return nullptr;
  return std::make_unique<backup_service>(std::move(*source), work);
}

backup_service::~backup_service() { impl_->server->stop(); }

std::string backup_service::url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->server->port());
}
const std::string& backup_service::token() const noexcept { return impl_->token; }
json::object backup_service::record() const { return impl_->record(); }

}  // namespace stampede::drill
