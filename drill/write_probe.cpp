#include "drill/write_probe.h"

#include <boost/json.hpp>
#include <stdexcept>

#include "common/http_server.h"
#include "reference_shop/pg_connection.h"

namespace stampede::drill {

namespace json = boost::json;
namespace pg = shop::pg;
using namespace std::chrono_literals;

namespace {

constexpr size_t max_attempts = 200'000;  // ~6 h of 3 members at 150 ms: a bound, never reached by a drill

std::string conninfo(uint16_t port, const std::string& password) {
  return "host=127.0.0.1 port=" + std::to_string(port) +
         " user=postgres dbname=postgres password=" + password;
}

pg::settings probe_settings() {
  pg::settings s;
  s.connect_timeout = 2s;  // libpq's least
  s.statement_timeout = 1000ms;
  s.commit_timeout = 1000ms;  // then cancelled: an unknown outcome
  s.application_name = "stampede-drill-probe";
  return s;
}

}  // namespace

write_probe::write_probe(std::vector<probe_member> members, std::string password,
                         std::chrono::milliseconds interval)
    : members_(std::move(members)),
      password_(std::move(password)),
      interval_(interval),
      last_error_(members_.size()) {}

write_probe::~write_probe() { stop(); }

double write_probe::now_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_).count();
}

void write_probe::start() {
  std::string errors;
  bool created = false;
  for (const auto& m : members_) {  // the leader is the member that is not in recovery
    try {
      pg::connection c{conninfo(m.port, password_), probe_settings()};
      if (c.exec("SELECT pg_is_in_recovery()").text(0, 0) != "f") continue;
      c.exec(
          "CREATE TABLE IF NOT EXISTS stampede_partition_probe (token text PRIMARY KEY, member text NOT "
          "NULL, "
          "at timestamptz NOT NULL DEFAULT now())");
      created = true;
      break;
    } catch (const std::exception& e) {
      errors += " " + m.name + ": " + e.what();
    }
  }
  if (!created) throw std::runtime_error("the write probe found no primary to create its table on:" + errors);
  http::server_options so;
  so.threads = 1;
  server_ = std::make_unique<http::server>(so, [this](http::request& r) {
    if (r.path() != "/partition") return http::response::error(404, "not_found");
    return http::response::json(200, json::serialize(snapshot()));
  });
  server_->start();
  for (size_t i = 0; i < members_.size(); ++i) threads_.emplace_back([this, i] { run_member(i); });
}

void write_probe::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (server_) server_->stop(100ms);
  server_.reset();
}

uint16_t write_probe::port() const { return server_ ? server_->port() : 0; }

void write_probe::mark_cut(const std::string& member) {
  std::lock_guard lock(mutex_);
  cut_ = partition_cut{member, now_s()};
}

std::vector<probe_attempt> write_probe::attempts() const {
  std::lock_guard lock(mutex_);
  return attempts_;
}

// One transaction per attempt on a session kept between attempts; any failure drops the session (a new
// one next time: a demoted or restarted server's session is of no use).
void write_probe::run_member(size_t index) {
  const probe_member& m = members_[index];
  std::unique_ptr<pg::connection> session;
  for (int64_t sequence = 1;; ++sequence) {
    const std::string token = m.name + "-" + std::to_string(sequence);
    const auto started = std::chrono::steady_clock::now();
    const double start_s = now_s();
    probe_outcome outcome = probe_outcome::refused;
    std::string error;
    bool committing = false;
    try {
      if (!session || !session->ok())
        session = std::make_unique<pg::connection>(conninfo(m.port, password_), probe_settings());
      session->exec("BEGIN");
      session->query("INSERT INTO stampede_partition_probe (token, member) VALUES ($1, $2)", token, m.name);
      committing = true;
      session->commit();
      outcome = probe_outcome::ok;
    } catch (const std::exception& e) {
      outcome = committing ? probe_outcome::unknown : probe_outcome::refused;
      error = e.what();
      session.reset();
    }
    std::unique_lock lock(mutex_);
    if (attempts_.size() < max_attempts) attempts_.push_back({m.name, start_s, now_s(), outcome, token});
    if (!error.empty()) last_error_[index] = error.substr(0, 300);
    if (wake_.wait_until(lock, started + interval_, [this] { return stopping_; })) return;  // pacing, or stop
  }
}

// The acknowledged writes looked up on the member that leads now (check_acknowledged).
json::object write_probe::durability(const std::vector<probe_attempt>& attempts,
                                     const std::optional<partition_cut>& cut) const {
  std::string tokens;
  for (const auto& a : attempts) {
    if (a.outcome == probe_outcome::ok) tokens += (tokens.empty() ? "" : ",") + a.token;
  }
  std::string errors;
  for (const auto& m : members_) {
    try {
      pg::connection c{conninfo(m.port, password_), probe_settings()};
      if (c.exec("SELECT pg_is_in_recovery()").text(0, 0) != "f") continue;
      const auto rows = c.query(
          "SELECT token FROM stampede_partition_probe WHERE token = ANY(string_to_array($1, ','))", tokens);
      std::vector<std::string> present;
      for (int i = 0; i < rows.rows(); ++i) present.push_back(rows.text(i, 0));
      json::object out = to_json(check_acknowledged(attempts, present, cut));
      out["checked_on"] = m.name;
      return out;
    } catch (const std::exception& e) {
      errors += " " + m.name + ": " + e.what();
    }
  }
  return json::object{{"checked_on", nullptr}, {"error", "no member answers as primary:" + errors}};
}

json::object write_probe::snapshot() const {
  std::vector<probe_attempt> attempts;
  std::optional<partition_cut> cut;
  json::array members;
  {
    std::lock_guard lock(mutex_);
    attempts = attempts_;
    cut = cut_;
    for (size_t i = 0; i < members_.size(); ++i) {
      int counts[3] = {0, 0, 0};
      for (const auto& a : attempts_) {
        if (a.member == members_[i].name) ++counts[static_cast<int>(a.outcome)];
      }
      members.push_back(json::object{{"name", members_[i].name},
                                     {"port", members_[i].port},
                                     {"ok", counts[0]},
                                     {"refused", counts[1]},
                                     {"unknown", counts[2]},
                                     {"last_error", last_error_[i]}});
    }
  }
  return json::object{{"interval_ms", interval_.count()},
                      {"members", std::move(members)},
                      {"analysis", to_json(analyse_split_brain(attempts, cut))},
                      {"durability", durability(attempts, cut)}};
}

}  // namespace stampede::drill
