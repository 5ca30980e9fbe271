#include "drill/partition_links.h"

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>

#include "common/http_client.h"
#include "common/loopback.h"
#include "drill/write_probe.h"

namespace stampede::drill {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

// The last value given to `--name` (as "--name V" or "--name=V"), as the shop's parser keeps it.
std::optional<std::string> flag_value(const std::vector<std::string>& args, const std::string& name) {
  std::optional<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == name && i + 1 < args.size()) {
      out = args[++i];
    } else if (args[i].rfind(name + "=", 0) == 0) {
      out = args[i].substr(name.size() + 1);
    }
  }
  return out;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

// The member whose Patroni answers as leader now, asked directly (not through its proxy).
std::string leader_now(const std::vector<std::pair<std::string, uint16_t>>& rest) {
  for (const auto& [member, port] : rest) {
    try {
      http::blocking_client client{"127.0.0.1", port, std::chrono::milliseconds{700}};
      const auto r = client.get("/patroni");
      const auto v = json::parse(r.body);
      const auto* role = v.is_object() ? v.as_object().if_contains("role") : nullptr;
      if (role != nullptr && role->is_string() &&
          (role->as_string() == "master" || role->as_string() == "primary")) {
        return member;
      }
    } catch (const std::exception&) {
    }
  }
  throw std::runtime_error("no Patroni member answers as leader");
}

}  // namespace

bool partition_links::requested(const std::string& scenario_path) {
  std::ifstream in(scenario_path);
  if (!in) throw std::runtime_error("cannot read '" + scenario_path + "'");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("--@drill", 0) == 0 && line.find("member-links") != std::string::npos) return true;
  }
  return false;
}

partition_links::partition_links() = default;

partition_links::~partition_links() = default;  // the probe's destructor stops it

std::vector<std::string> partition_links::add(const std::vector<std::string>& shop_args,
                                              chaos::proxy_server& proxies, json::array& links) {
  if (flag_value(shop_args, "--ha").value_or("none") != "patroni") {
    throw std::invalid_argument(
        "the scenario asks for member links (--@drill member-links): run the shop with --ha patroni");
  }
  const std::string replicas_text = flag_value(shop_args, "--replicas").value_or("2");
  int members = 0;
  try {
    members = std::stoi(replicas_text) + 1;
  } catch (const std::exception&) {
    throw std::invalid_argument("--replicas must be an integer in [0, 8]: " + replicas_text);
  }
  if (members < 1 || members > 9) throw std::invalid_argument("--replicas must be an integer in [0, 8]");
  // PostgreSQL ports: the replication links' when the arguments made them (replication_links.h), else ours.
  std::vector<std::string> pg_ports;
  const auto given = flag_value(shop_args, "--pg-ports");
  for (size_t start = 0; given && start <= given->size();) {
    const size_t comma = std::min(given->find(',', start), given->size());
    pg_ports.push_back(given->substr(start, comma - start));
    start = comma + 1;
  }
  const bool make_replication = pg_ports.empty();
  const uint16_t etcd_port = free_loopback_port();
  std::vector<std::string> rest_ports, dcs_via, postgres_via, rest_via, replication_via;
  auto proxy = [&](const std::string& name, const std::string& from, const std::string& to,
                   uint16_t upstream) {
    auto info = proxies.add_proxy({name, "127.0.0.1:0", "127.0.0.1:" + std::to_string(upstream), true});
    links.push_back(json::object{{"name", name},
                                 {"from", from},
                                 {"to", to},
                                 {"listen", info.config.listen},
                                 {"upstream", info.config.upstream}});
    return info.config.listen;
  };
  for (int i = 1; i <= members; ++i) {
    const std::string m = "pg" + std::to_string(i);
    if (make_replication) pg_ports.push_back(std::to_string(free_loopback_port()));
    if (static_cast<int>(pg_ports.size()) < i)
      throw std::invalid_argument("--pg-ports needs one port per member");
    const auto pg_port = static_cast<uint16_t>(std::stoi(pg_ports[static_cast<size_t>(i - 1)]));
    const uint16_t rest_port = free_loopback_port();
    rest_ports.push_back(std::to_string(rest_port));
    rest_.emplace_back(m, rest_port);
    dcs_via.push_back(m + "=" + proxy("dcs:" + m, m + " patroni", "etcd", etcd_port));
    postgres_via.push_back(m + "=" + proxy("postgres:" + m, "database haproxy", m + " postgresql", pg_port));
    rest_via.push_back(m + "=" +
                       proxy("rest:" + m, "database haproxy, other members", m + " patroni api", rest_port));
    if (make_replication)
      replication_via.push_back(m + "=" + proxy("replication:" + m, m, "its replicas", pg_port));
    groups_[m] = {"dcs:" + m, "postgres:" + m, "rest:" + m, "replication:" + m};
  }
  std::vector<std::string> out{
      "--etcd-port",   std::to_string(etcd_port), "--rest-ports",       joined(rest_ports), "--dcs-via",
      joined(dcs_via), "--postgres-via",          joined(postgres_via), "--rest-via",       joined(rest_via)};
  if (make_replication)
    out.insert(out.end(), {"--pg-ports", joined(pg_ports), "--replication-via", joined(replication_via)});
  return out;
}

void partition_links::attach(const json::value& topology, loadgen::run_request& run) {
  const auto& database = topology.at("database").as_object();
  std::vector<probe_member> members;
  fs::path patroni_dir;
  for (const auto& v : database.at("members").as_array()) {
    const auto& m = v.as_object();
    members.push_back(
        {std::string(m.at("name").as_string()), static_cast<uint16_t>(m.at("pg_port").to_number<int>())});
    patroni_dir = fs::path(std::string(m.at("data_dir").as_string())).parent_path().parent_path();
  }
  std::ifstream in(patroni_dir / "superuser.password");
  std::string password;
  if (!(in >> password))
    throw std::runtime_error("cannot read " + (patroni_dir / "superuser.password").string());
  probe_ = std::make_shared<write_probe>(std::move(members), password);
  probe_->start();
  run.env["PARTITION_PROBE_URL"] = "http://127.0.0.1:" + std::to_string(probe_->port()) + "/partition";
  // The groups outlive nothing they use: the run ends before this object (the drill's scope).
  run.link_groups.known = [this](std::string_view t) {
    return t == "primary" || groups_.contains(std::string{t});
  };
  run.link_groups.resolve = [this, probe = probe_](std::string_view t) {
    const std::string member = t == "primary" ? leader_now(rest_) : std::string{t};
    const auto it = groups_.find(member);
    if (it == groups_.end()) throw std::runtime_error("'" + member + "' is not a Patroni member");
    // The cut's time is when every link is cut (the probe's "after the cut" must not begin earlier).
    return loadgen::link_group{member, it->second, [probe, member] { probe->mark_cut(member); }};
  };
}

}  // namespace stampede::drill
