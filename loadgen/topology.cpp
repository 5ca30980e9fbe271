#include "loadgen/topology.h"

#include <charconv>
#include <set>
#include <stdexcept>

#include <boost/json.hpp>

namespace stampede::loadgen {

namespace json = boost::json;

namespace {

[[noreturn]] void bad(const std::string& path, const std::string& what) { throw std::invalid_argument(path + ": " + what); }

std::string string_field(const json::object& o, const char* key, const std::string& path, bool required) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) {
    if (required) bad(path + "." + key, "required");
    return {};
  }
  if (!v->is_string()) bad(path + "." + key, "expected a string");
  return std::string(v->as_string());
}

// "host:port" with a port in 1..65535 (a link's ends are fixed addresses: the system is configured with them).
void check_address(const std::string& text, const std::string& path) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) bad(path, "'" + text + "' is not HOST:PORT");
  unsigned port = 0;
  const char* first = text.data() + colon + 1;
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(first, last, port);
  if (ec != std::errc{} || end != last || port == 0 || port > 65535) {
    bad(path, "'" + text + "' needs a port in 1..65535");
  }
}

bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

topology_link parse_link(const json::value& v, const std::string& path) {
  if (!v.is_object()) bad(path, "expected an object {name, listen, upstream}");
  const auto& o = v.as_object();
  for (const auto& [key, value] : o) {
    if (key != "name" && key != "listen" && key != "upstream" && key != "from" && key != "to") {
      bad(path + "." + std::string(key), "unknown key (a link has name, listen, upstream, from, to)");
    }
  }
  topology_link l;
  l.name = string_field(o, "name", path, true);
  if (!valid_name(l.name)) bad(path + ".name", "'" + l.name + "' must be letters, digits, '_', '-' or '.'");
  l.listen = string_field(o, "listen", path, true);
  check_address(l.listen, path + ".listen");
  l.upstream = string_field(o, "upstream", path, true);
  check_address(l.upstream, path + ".upstream");
  l.from = string_field(o, "from", path, false);
  l.to = string_field(o, "to", path, false);
  return l;
}

topology_node_commands parse_commands(const json::value& v, const std::string& path) {
  if (!v.is_object()) bad(path, "expected an object of shell commands");
  topology_node_commands c;
  const std::pair<const char*, std::string*> keys[] = {{"kill", &c.kill},       {"terminate", &c.terminate},
                                                       {"pause", &c.pause},     {"resume", &c.resume},
                                                       {"restart", &c.restart}, {"health", &c.health}};
  for (const auto& [key, value] : v.as_object()) {
    std::string* into = nullptr;
    for (const auto& [name, field] : keys) {
      if (key == name) into = field;
    }
    if (into == nullptr) {
      bad(path + "." + std::string(key), "unknown command (kill, terminate, pause, resume, restart, health)");
    }
    if (!value.is_string() || value.as_string().empty()) bad(path + "." + std::string(key), "expected a shell command");
    *into = std::string(value.as_string());
  }
  if (!c.pause.empty() && c.resume.empty()) bad(path + ".pause", "needs commands.resume (a pause must be healable)");
  return c;
}

topology_node parse_node(const json::value& v, const std::string& path, std::string name) {
  if (!v.is_object()) bad(path, "expected an object {name, pid | pid_file | commands}");
  const auto& o = v.as_object();
  topology_node n;
  n.name = name.empty() ? string_field(o, "name", path, true) : std::move(name);
  if (!valid_name(n.name)) bad(path + ".name", "'" + n.name + "' must be letters, digits, '_', '-' or '.'");
  if (const auto* pid = o.if_contains("pid")) {
    if (!pid->is_int64() && !pid->is_uint64()) bad(path + ".pid", "expected an integer");
    const int64_t p = pid->to_number<int64_t>();
    if (p <= 1 || p >= (int64_t{1} << 22)) bad(path + ".pid", std::to_string(p) + " is not a process id");
    n.pid = static_cast<pid_t>(p);
  }
  n.pid_file = string_field(o, "pid_file", path, false);
  if (n.pid > 0 && !n.pid_file.empty()) bad(path, "pid and pid_file are exclusive");
  if (const auto* c = o.if_contains("commands")) n.commands = parse_commands(*c, path + ".commands");
  const auto& c = n.commands;
  const bool any_command = !c.kill.empty() || !c.terminate.empty() || !c.pause.empty() || !c.restart.empty();
  if (n.pid == 0 && n.pid_file.empty() && !any_command) {
    bad(path, "node '" + n.name + "' needs pid, pid_file or commands");
  }
  return n;
}

}  // namespace

bool topology_node::supports(std::string_view fault) const {
  const bool signalable = pid > 0 || !pid_file.empty();
  if (fault == "kill") return signalable || !commands.kill.empty();
  if (fault == "terminate") return signalable || !commands.terminate.empty();
  if (fault == "pause") return signalable || !commands.pause.empty();
  if (fault == "restart") return !commands.restart.empty();
  return false;
}

const topology_node* topology::node(std::string_view name) const {
  for (const auto& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

const topology_link* topology::link(std::string_view name) const {
  for (const auto& l : links) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

topology parse_topology(std::string_view json_text) {
  json::error_code ec;
  json::value doc = json::parse(json_text, ec);
  if (ec) throw std::invalid_argument("not JSON: " + ec.message());
  if (!doc.is_object()) throw std::invalid_argument("expected a JSON object");
  const auto& o = doc.as_object();
  topology t;
  t.entry_url = string_field(o, "entry_url", "topology", false);
  std::set<std::string> names;
  if (const auto* links = o.if_contains("links")) {
    if (!links->is_array()) bad("links", "expected an array");
    for (size_t i = 0; i < links->as_array().size(); ++i) {
      const std::string path = "links[" + std::to_string(i + 1) + "]";
      t.links.push_back(parse_link(links->as_array()[i], path));
      if (!names.insert(t.links.back().name).second) bad(path + ".name", "'" + t.links.back().name + "' appears twice");
    }
  }
  names.clear();
  if (const auto* nodes = o.if_contains("nodes")) {
    if (!nodes->is_array()) bad("nodes", "expected an array");
    for (size_t i = 0; i < nodes->as_array().size(); ++i) {
      const std::string path = "nodes[" + std::to_string(i + 1) + "]";
      t.nodes.push_back(parse_node(nodes->as_array()[i], path, {}));
      if (!names.insert(t.nodes.back().name).second) bad(path + ".name", "'" + t.nodes.back().name + "' appears twice");
    }
  }
  // The reference shop's database processes as fault targets (`stampede shop --ha patroni`: pg1..,
  // primary, etcd), nodes in every other respect.
  if (const auto* db = o.if_contains("database_nodes")) {
    if (!db->is_array()) bad("database_nodes", "expected an array");
    for (size_t i = 0; i < db->as_array().size(); ++i) {
      const std::string path = "database_nodes[" + std::to_string(i + 1) + "]";
      t.nodes.push_back(parse_node(db->as_array()[i], path, {}));
      if (!names.insert(t.nodes.back().name).second) bad(path + ".name", "'" + t.nodes.back().name + "' appears twice");
    }
  }
  // The reference shop's other processes (redis with `stampede shop --cache redis`).
  for (const char* key : {"haproxy", "payment_emulator", "redis"}) {
    const auto* p = o.if_contains(key);
    if (p == nullptr || !p->is_object() || !p->as_object().contains("pid")) continue;
    t.nodes.push_back(parse_node(*p, key, key));
    if (!names.insert(key).second) bad(key, "also the name of a node");
  }
  return t;
}

}  // namespace stampede::loadgen
