#include "reference_shop/replica_reads.h"

#include <charconv>
#include <stdexcept>

#include "common/host_port.h"

namespace stampede::shop {

std::optional<replica_read_mode> parse_replica_read_mode(std::string_view text) {
  if (text == "off") return replica_read_mode::off;
  if (text == "on") return replica_read_mode::on;
  if (text == "read-your-writes") return replica_read_mode::read_your_writes;
  if (text == "read-your-writes-lsn") return replica_read_mode::read_your_writes_lsn;
  return std::nullopt;
}

std::string_view to_string(replica_read_mode mode) {
  switch (mode) {
    case replica_read_mode::on:
      return "on";
    case replica_read_mode::read_your_writes:
      return "read-your-writes";
    case replica_read_mode::read_your_writes_lsn:
      return "read-your-writes-lsn";
    case replica_read_mode::off:
      break;
  }
  return "off";
}

std::string last_write_set_cookie(int64_t now_ms, std::chrono::milliseconds pin) {
  const auto max_age = (pin.count() + 999) / 1000;
  return std::string{last_write_cookie} + "=" + std::to_string(now_ms) +
         "; Path=/; HttpOnly; SameSite=Lax; Max-Age=" + std::to_string(max_age);
}

std::optional<int64_t> last_write_of(const http::request& request) {
  const std::string_view text = request.cookie(last_write_cookie);
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v < 0) return std::nullopt;
  return v;
}

std::string last_write_lsn_set_cookie(std::string_view lsn) {
  // A day: the LSN stays meaningful (a later read waits at most lsn_wait for it), unlike a time pin.
  return std::string{last_write_lsn_cookie} + "=" + std::string{lsn} +
         "; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400";
}

std::optional<std::string> last_write_lsn_of(const http::request& request) {
  const std::string_view text = request.cookie(last_write_lsn_cookie);
  const size_t slash = text.find('/');
  auto hex = [](std::string_view h) {
    if (h.empty() || h.size() > 8) return false;
    for (const char c : h) {
      if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
  };
  if (slash == std::string_view::npos || !hex(text.substr(0, slash)) || !hex(text.substr(slash + 1))) {
    return std::nullopt;
  }
  return std::string{text};
}

bool read_from_primary(replica_read_mode mode, std::optional<int64_t> last_write_ms, int64_t now_ms,
                       std::chrono::milliseconds pin) {
  switch (mode) {
    case replica_read_mode::off:
      return true;
    case replica_read_mode::on:
    case replica_read_mode::read_your_writes_lsn:  // the replica, after its LSN wait (node_orders.cpp)
      return false;
    case replica_read_mode::read_your_writes:
      break;
  }
  if (!last_write_ms) return false;
  return now_ms - std::min(*last_write_ms, now_ms) < pin.count();
}

std::map<std::string, std::string> parse_replication_via(std::string_view text) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const size_t eq = item.find('=');
    const std::string_view member = item.substr(0, eq);
    if (eq == std::string_view::npos || member.size() < 3 || member.substr(0, 2) != "pg" ||
        member.find_first_not_of("0123456789", 2) != std::string_view::npos) {
      throw std::invalid_argument(
          "--replication-via takes MEMBER=HOST:PORT,... with members pg1, pg2, ... (got '" +
          std::string{item} + "')");
    }
    const auto hp =
        parse_host_port(item.substr(eq + 1), "--replication-via");  // throws std::invalid_argument
    out[std::string{member}] = hp.host + ":" + std::to_string(hp.port);
  }
  return out;
}

replica_read_options parse_node_replica_flags(const arg_list& a, const std::string& db_url) {
  replica_read_options o;
  const auto mode = parse_replica_read_mode(a.get("replica-reads", "off"));
  if (!mode)
    throw std::invalid_argument("--replica-reads must be off, on, read-your-writes or read-your-writes-lsn");
  o.mode = *mode;
  o.url = a.get("db-replica-url");
  o.pin = std::chrono::milliseconds{a.get_int("replica-pin-ms", o.pin.count(), 1, 3'600'000)};
  if (o.mode != replica_read_mode::off && (o.url.empty() || db_url.empty())) {
    throw std::invalid_argument("--replica-reads " + std::string{to_string(o.mode)} +
                                " needs --db-url and --db-replica-url (PostgreSQL replicas)");
  }
  if (o.mode == replica_read_mode::off && !o.url.empty()) {
    throw std::invalid_argument(
        "--db-replica-url needs --replica-reads on, read-your-writes or read-your-writes-lsn");
  }
  return o;
}

replica_tier_options parse_replica_tier_options(const arg_list& a) {
  replica_tier_options o;
  const auto mode = parse_replica_read_mode(a.get("replica-reads", "off"));
  if (!mode)
    throw std::invalid_argument("--replica-reads must be off, on, read-your-writes or read-your-writes-lsn");
  o.reads = *mode;
  o.pin = std::chrono::milliseconds{a.get_int("replica-pin-ms", o.pin.count(), 1, 3'600'000)};
  const std::string ports_text = a.get("pg-ports");  // get() returns a copy: keep it while `ports` views it
  std::string_view ports = ports_text;
  while (!ports.empty()) {
    const size_t comma = ports.find(',');
    const std::string_view p = ports.substr(0, comma);
    ports = comma == std::string_view::npos ? std::string_view{} : ports.substr(comma + 1);
    int v = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || v <= 0 || v > 65535) {
      throw std::invalid_argument("--pg-ports are ports 1..65535");
    }
    o.pg_ports.push_back(static_cast<uint16_t>(v));
  }
  if (a.has("replication-via")) o.replication_via = parse_replication_via(a.get("replication-via"));
  if (a.get("ha", "none") != "patroni" &&
      (o.reads != replica_read_mode::off || !o.pg_ports.empty() || !o.replication_via.empty())) {
    throw std::invalid_argument(o.reads != replica_read_mode::off
                                    ? "--replica-reads needs --ha patroni"
                                    : "--pg-ports and --replication-via need --ha patroni");
  }
  return o;
}

}  // namespace stampede::shop
