// The topology format (loadgen/topology.h) that `stampede run --topology` and `stampede drill --topology`
// share: the reference shop's file and a hand-written one for a user's own system parse into the same
// structure; bad files are refused naming the field; the chaos timeline turns links into fault proxies
// and applies node faults through a node's commands (on real processes); a killed node is seen back under a
// new pid through its pid file or the rewritten topology file (back_s, the heal in the recovery figures).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "chaos/proxy_server.h"
#include "common/loopback.h"
#include "loadgen/chaos_timeline.h"
#include "loadgen/topology.h"

namespace stampede::loadgen {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

TEST(topology, reference_shop_file_names_nodes_haproxy_and_emulator) {
  const auto t = parse_topology(R"({"entry_url": "http://127.0.0.1:8080", "admin_token": "x", "lb": "roundrobin",
    "nodes": [{"name": "node1", "pid": 101, "port": 9001, "url": "http://127.0.0.1:9001"},
              {"name": "node2", "pid": 102, "port": 9002, "url": "http://127.0.0.1:9002"}],
    "haproxy": {"pid": 103, "url": "http://127.0.0.1:8080"}, "payment_emulator": {"pid": 104, "url": "u"}})");
  EXPECT_EQ(t.entry_url, "http://127.0.0.1:8080");
  ASSERT_EQ(t.nodes.size(), 4u);
  EXPECT_EQ(t.node("node2")->pid, 102);
  EXPECT_EQ(t.node("haproxy")->pid, 103);
  EXPECT_EQ(t.node("payment_emulator")->pid, 104);
  EXPECT_TRUE(t.links.empty());
  EXPECT_TRUE(t.node("node1")->supports("pause"));
  EXPECT_FALSE(t.node("node1")->supports("restart"));  // a pid alone cannot bring a process back
}

// `stampede shop --ha patroni` adds its database processes as `database_nodes`: members by name, `primary`
// (a command resolved when the fault fires) and etcd, each a node the chaos timeline can name.
TEST(topology, reference_shop_database_nodes_are_fault_targets) {
  const auto t = parse_topology(R"({"nodes": [{"name": "node1", "pid": 101}],
    "database_nodes": [{"name": "pg1", "commands": {"kill": "kill -KILL 201 202", "pause": "kill -STOP 201 202",
                                                    "resume": "kill -CONT 201 202"}},
                       {"name": "primary", "commands": {"kill": "/usr/bin/python3 s.py kill"}},
                       {"name": "etcd", "pid": 203}],
    "haproxy": {"pid": 103}})");
  ASSERT_EQ(t.nodes.size(), 5u);
  EXPECT_EQ(t.node("pg1")->commands.kill, "kill -KILL 201 202");
  EXPECT_TRUE(t.node("pg1")->supports("pause"));
  EXPECT_TRUE(t.node("primary")->supports("kill"));
  EXPECT_FALSE(t.node("primary")->supports("pause"));
  EXPECT_EQ(t.node("etcd")->pid, 203);
  auto error_of = [](const std::string& text) {
    try {
      (void)parse_topology(text);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(error_of(R"({"nodes": [{"name": "pg1", "pid": 5}], "database_nodes": [{"name": "pg1", "pid": 6}]})"),
            "database_nodes[1].name: 'pg1' appears twice");
  EXPECT_EQ(error_of(R"({"database_nodes": {"name": "pg1"}})"), "database_nodes: expected an array");
}

TEST(topology, reference_shop_file_with_redis_names_it_for_node_faults) {
  const auto t = parse_topology(R"({"nodes": [{"name": "node1", "pid": 101}], "cache": "redis",
    "haproxy": {"pid": 103}, "payment_emulator": {"pid": 104},
    "redis": {"name": "redis", "pid": 105, "port": 6400, "url": "redis://:pw@127.0.0.1:6400", "respawn_ms": 1000}})");
  ASSERT_NE(t.node("redis"), nullptr);
  EXPECT_EQ(t.node("redis")->pid, 105);
  EXPECT_TRUE(t.node("redis")->supports("kill"));
  EXPECT_TRUE(t.node("redis")->supports("pause"));
  EXPECT_FALSE(t.node("redis")->supports("restart"));
  // The shop's file gives it a restart command (the supervisor starts it again on request).
  const auto r = parse_topology(R"({"redis": {"name": "redis", "pid": 105,
    "commands": {"restart": "/bin/sh /d/restart/request.sh redis"}}})");
  EXPECT_TRUE(r.node("redis")->supports("restart"));
  // Without --cache redis there is no such process to target.
  EXPECT_EQ(parse_topology(R"({"nodes": [{"name": "node1", "pid": 101}], "cache": "local"})").node("redis"), nullptr);
}

TEST(topology, own_system_file_with_links_pid_files_and_commands) {
  const auto t = parse_topology(R"({
    "links": [{"name": "app_db", "from": "app", "to": "db", "listen": "127.0.0.1:15432", "upstream": "127.0.0.1:5432"}],
    "nodes": [{"name": "app", "pid_file": "/run/app.pid", "commands": {"restart": "systemctl restart app"}},
              {"name": "db", "commands": {"pause": "docker pause db", "resume": "docker unpause db",
                                          "kill": "docker kill db", "health": "pg_isready"}}]})");
  ASSERT_EQ(t.links.size(), 1u);
  EXPECT_EQ(t.link("app_db")->listen, "127.0.0.1:15432");
  EXPECT_EQ(t.link("app_db")->upstream, "127.0.0.1:5432");
  EXPECT_EQ(t.node("app")->pid_file, "/run/app.pid");
  EXPECT_TRUE(t.node("app")->supports("restart"));
  EXPECT_TRUE(t.node("db")->supports("pause"));
  EXPECT_TRUE(t.node("db")->supports("kill"));
  EXPECT_FALSE(t.node("db")->supports("terminate"));  // no pid, no terminate command
  EXPECT_EQ(t.node("db")->commands.health, "pg_isready");
}

// The documented example (docs/examples/topology.json) stays valid.
TEST(topology, documented_example_parses) {
  std::ifstream in(STAMPEDE_SOURCE_DIR "/docs/examples/topology.json");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());
  const auto t = parse_topology(text);
  EXPECT_EQ(t.links.size(), 3u);
  EXPECT_EQ(t.nodes.size(), 3u);
  for (const char* fault : {"kill", "pause", "restart"}) EXPECT_TRUE(t.node("postgres")->supports(fault)) << fault;
  EXPECT_TRUE(t.node("app2")->supports("restart"));
}

// Each bad file names the field at fault.
TEST(topology, bad_files_name_the_field) {
  auto error_of = [](const std::string& text) {
    try {
      (void)parse_topology(text);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(error_of("[1]"), "expected a JSON object");
  EXPECT_NE(error_of("{").find("not JSON"), std::string::npos);
  EXPECT_EQ(error_of(R"({"links": [{"name": "a", "listen": "127.0.0.1", "upstream": "127.0.0.1:1"}]})"),
            "links[1].listen: '127.0.0.1' is not HOST:PORT");
  EXPECT_EQ(error_of(R"({"links": [{"name": "a", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"}]})"),
            "links[1].listen: '127.0.0.1:0' needs a port in 1..65535");
  EXPECT_EQ(error_of(R"({"links": [{"name": "a", "listen": "127.0.0.1:1", "upstrem": "127.0.0.1:1"}]})"),
            "links[1].upstrem: unknown key (a link has name, listen, upstream, from, to)");
  EXPECT_EQ(error_of(R"({"links": [{"name": "a", "listen": "127.0.0.1:1", "upstream": "127.0.0.1:2"},
                                   {"name": "a", "listen": "127.0.0.1:3", "upstream": "127.0.0.1:2"}]})"),
            "links[2].name: 'a' appears twice");
  EXPECT_EQ(error_of(R"({"nodes": [{"name": "db"}]})"), "nodes[1]: node 'db' needs pid, pid_file or commands");
  EXPECT_EQ(error_of(R"({"nodes": [{"name": "db", "pid": 5, "pid_file": "x"}]})"), "nodes[1]: pid and pid_file are exclusive");
  EXPECT_EQ(error_of(R"({"nodes": [{"name": "db", "pid": "5"}]})"), "nodes[1].pid: expected an integer");
  EXPECT_EQ(error_of(R"({"nodes": [{"name": "db", "commands": {"puase": "x"}}]})"),
            "nodes[1].commands.puase: unknown command (kill, terminate, pause, resume, restart, health)");
  EXPECT_EQ(error_of(R"({"nodes": [{"name": "db", "commands": {"pause": "x"}}]})"),
            "nodes[1].commands.pause: needs commands.resume (a pause must be healable)");
  EXPECT_EQ(error_of(R"({"nodes": [{"name": "a b", "pid": 5}]})"),
            "nodes[1].name: 'a b' must be letters, digits, '_', '-' or '.'");
}

fault_spec spec(std::string fault, std::string target, std::string restart = {}, std::string toxic = {}) {
  fault_spec f;
  f.fault = std::move(fault);
  f.target = std::move(target);
  f.restart_command = std::move(restart);
  f.toxic_json = std::move(toxic);
  return f;
}

char state_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return 0;
  return text[text.rfind(')') + 2];
}

bool wait_state(pid_t pid, char want) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (state_of(pid) == want) return true;
    std::this_thread::sleep_for(2ms);  // signal delivery is asynchronous; /proc has no notification
  }
  return false;
}

class sleeper {
 public:
  sleeper() {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~sleeper() {
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

// A node whose pause and resume are commands (as `docker pause` would be): the fault runs the command,
// its heal runs the resume command, and a timeline destroyed mid-pause still resumes it.
TEST(topology_timeline, node_commands_pause_resume_and_heal) {
  sleeper db;
  const std::string p = std::to_string(db.pid());
  const std::string topo = R"({"nodes": [{"name": "db", "commands": {"pause": "kill -STOP )" + p +
                           R"(", "resume": "kill -CONT )" + p + R"("}}]})";
  {
    chaos_timeline timeline(1, topo);
    const fault_spec pause = spec("pause", "db");
    const int id = timeline.inject(pause, 0.0);
    EXPECT_TRUE(wait_state(db.pid(), 'T'));
    timeline.heal(id, 1.0);
    EXPECT_TRUE(wait_state(db.pid(), 'S'));
    timeline.inject(pause, 2.0);
    EXPECT_TRUE(wait_state(db.pid(), 'T'));
  }  // destroyed while paused
  EXPECT_TRUE(wait_state(db.pid(), 'S'));
}

TEST(topology_timeline, faults_a_node_cannot_take_are_refused_before_the_run) {
  chaos_timeline timeline(1, R"({"nodes": [{"name": "db", "commands": {"kill": "true"}},
                                            {"name": "app", "pid": 12345}]})");
  EXPECT_NO_THROW(timeline.validate(spec("kill", "db")));
  try {
    timeline.validate(spec("pause", "db"));
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "node 'db' cannot take a pause fault: it has no pid, pid_file or commands.pause");
  }
  try {
    timeline.validate(spec("restart", "app"));
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("commands.restart"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(timeline.validate(spec("restart", "app", "true")));
}

TEST(topology_timeline, a_failing_command_is_the_fault_error) {
  chaos_timeline timeline(1, R"({"nodes": [{"name": "db", "commands": {"kill": "exit 3"}}]})");
  try {
    timeline.inject(spec("kill", "db"), 0.0);
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "fault 'kill db' failed: kill command failed (exit 3): exit 3");
  }
  EXPECT_EQ(timeline.records().at(0).at("error").as_string(), "kill command failed (exit 3): exit 3");
}

void write_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, path);  // as the shop's supervisor does: readers never see half a file
}

json::object record_of(const chaos_timeline& timeline, const std::string& target) {
  for (const auto& r : timeline.records()) {
    if (r.at("target") == target.c_str()) return r.as_object();
  }
  return {};
}

// The heal of a kill is the process back under a new pid (back_s), seen by re-reading what names it: a
// node's pid_file, or its pid in the topology file (rewritten by the reference shop's supervisor when it
// respawns a node). A node known only by commands, and a fixed pid with no file to re-read, are not
// watched: no back_s, their heal is the fault's end.
TEST(topology_timeline, a_killed_node_is_back_when_its_pid_file_or_the_rewritten_topology_names_a_new_pid) {
  const fs::path dir = fs::temp_directory_path() / ("stampede-topology-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path topology_file = dir / "topology.json", pid_file = dir / "worker.pid";
  std::optional<sleeper> app(std::in_place), worker(std::in_place), fixed(std::in_place);
  auto topology_text = [&](pid_t app_pid) {
    return R"({"nodes": [{"name": "app", "pid": )" + std::to_string(app_pid) +
           R"(}, {"name": "worker", "pid_file": ")" + pid_file.string() +
           R"("}, {"name": "db", "commands": {"kill": "true"}}]})";
  };
  write_atomically(pid_file, std::to_string(worker->pid()) + "\n");
  write_atomically(topology_file, topology_text(app->pid()));
  chaos_timeline timeline(1, topology_text(app->pid()), nullptr, topology_file.string());
  for (const char* target : {"app", "worker", "db"}) timeline.inject(spec("kill", target), 1.0);
  EXPECT_TRUE(wait_state(app->pid(), 'Z'));  // our child: dead, not yet reaped
  timeline.observe(1.5);
  EXPECT_TRUE(record_of(timeline, "app").at("back_s").is_null());
  EXPECT_TRUE(record_of(timeline, "worker").at("back_s").is_null());

  // The system respawns both; the files name the new processes.
  std::optional<sleeper> app2(std::in_place), worker2(std::in_place);
  write_atomically(pid_file, std::to_string(worker2->pid()) + "\n");
  timeline.observe(2.0);
  EXPECT_EQ(record_of(timeline, "worker").at("back_s"), 2.0);
  EXPECT_TRUE(record_of(timeline, "app").at("back_s").is_null()) << "the topology still names the dead pid";
  write_atomically(topology_file, topology_text(app2->pid()));
  timeline.observe(2.5);
  timeline.observe(3.0);
  EXPECT_EQ(record_of(timeline, "app").at("back_s"), 2.5);
  EXPECT_EQ(record_of(timeline, "worker").at("back_s"), 2.0) << "the first time it was seen back";
  EXPECT_FALSE(record_of(timeline, "db").contains("back_s")) << "commands only: the heal is the fault's end";

  // A fixed pid and no file to re-read (a topology given as text): not watched.
  chaos_timeline unwatched(1, R"({"nodes": [{"name": "app", "pid": )" + std::to_string(fixed->pid()) + "}]}");
  unwatched.inject(spec("kill", "app"), 1.0);
  unwatched.observe(2.0);
  EXPECT_FALSE(record_of(unwatched, "app").contains("back_s"));
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// Links of the topology become fault proxies that listen where the file says (for `stampede run`).
TEST(topology_timeline, links_become_proxies_on_their_listen_address) {
  const uint16_t listen = free_loopback_port();
  const std::string topo = R"({"links": [{"name": "app_db", "listen": "127.0.0.1:)" + std::to_string(listen) +
                           R"(", "upstream": "127.0.0.1:9"}]})";
  auto proxies = std::make_shared<chaos::proxy_server>();
  chaos_timeline timeline(1, topo, proxies);
  auto info = proxies->proxy("app_db");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->config.listen, "127.0.0.1:" + std::to_string(listen));
  EXPECT_NO_THROW(timeline.validate(spec("latency", "app_db", {}, R"({"type": "latency", "attributes": {"latency": 10}})")));
  // An embedder that created the proxy already (stampede drill) keeps it.
  chaos_timeline second(1, topo, proxies);
  EXPECT_EQ(proxies->proxy("app_db")->config.listen, "127.0.0.1:" + std::to_string(listen));
}

// `db:*` targets every proxy whose name starts with `db:` (every node's database link) and nothing else:
// one toxic on each while the fault lasts, all removed by its heal; a prefix naming no proxy is refused.
TEST(topology_timeline, a_trailing_star_targets_every_proxy_of_that_prefix) {
  auto proxies = std::make_shared<chaos::proxy_server>();
  for (const char* name : {"db:node1", "db:node2", "redis:node1", "payment"}) {
    proxies->add_proxy({name, "127.0.0.1:0", "127.0.0.1:9", true});
  }
  chaos_timeline timeline(1, "", proxies);
  const auto latency = spec("latency", "db:*", {}, R"({"type": "latency", "attributes": {"latency": 10}})");
  const int id = timeline.inject(latency, 1.0);
  EXPECT_EQ(proxies->toxics("db:node1").size(), 1u);
  EXPECT_EQ(proxies->toxics("db:node2").size(), 1u);
  EXPECT_TRUE(proxies->toxics("redis:node1").empty());
  EXPECT_TRUE(proxies->toxics("payment").empty());
  timeline.heal(id, 2.0);
  EXPECT_TRUE(proxies->toxics("db:node1").empty());
  EXPECT_TRUE(proxies->toxics("db:node2").empty());
  const auto records = timeline.records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].at("target").as_string(), "db:*");
  EXPECT_EQ(records[0].at("end_s").as_double(), 2.0);
  // One link by name is untouched by the group form.
  const int one = timeline.inject(spec("latency", "db:node2", {}, R"({"type": "latency", "attributes": {"latency": 10}})"), 3.0);
  EXPECT_TRUE(proxies->toxics("db:node1").empty());
  EXPECT_EQ(proxies->toxics("db:node2").size(), 1u);
  timeline.heal(one, 4.0);
  try {
    timeline.validate(spec("latency", "cache:*", {}, R"({"type": "latency", "attributes": {"latency": 10}})"));
    FAIL() << "a prefix naming no proxy must be refused";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'cache:*' names no proxy"), std::string::npos) << e.what();
  }
}

// A partition of a group of links (stampede drill: a Patroni member's DCS, client, REST and replication
// links; `primary` resolved when the fault fires): a black hole both ways on every proxy of the group, all
// healed together; the record names what the target stood for and the links. Unknown names are refused
// before the run, and a group that cannot be resolved is the fault's error with nothing left behind.
TEST(topology_timeline, a_partition_of_a_link_group_cuts_every_link_both_ways_and_heals_them_together) {
  auto proxies = std::make_shared<chaos::proxy_server>();
  for (const char* name : {"dcs:pg1", "postgres:pg1", "dcs:pg2"}) proxies->add_proxy({name, "127.0.0.1:0", "127.0.0.1:9", true});
  chaos_timeline timeline(1, "", proxies);
  std::string leader = "pg1";
  int resolved = 0;
  std::string applied_to;
  size_t links_cut_when_applied = 0;
  link_group_resolver groups;
  groups.known = [](std::string_view t) { return t == "primary" || t == "pg1" || t == "pg2"; };
  groups.resolve = [&](std::string_view t) {
    ++resolved;
    const std::string member = t == "primary" ? leader : std::string{t};
    if (member.empty()) throw std::runtime_error("no Patroni member answers as leader");
    link_group g{member, {"dcs:" + member}, [&, member] {
                   applied_to = member;
                   links_cut_when_applied = proxies->proxy("dcs:" + member)->toxics.size();
                 }};
    if (member == "pg1") g.proxies.push_back("postgres:pg1");
    return g;
  };
  EXPECT_THROW(timeline.validate(spec("partition", "primary")), std::invalid_argument) << "no resolver yet";
  timeline.set_link_groups(groups);
  EXPECT_NO_THROW(timeline.validate(spec("partition", "primary")));
  EXPECT_NO_THROW(timeline.validate(spec("partition", "dcs:pg2")));  // one proxy: a black hole both ways
  EXPECT_THROW(timeline.validate(spec("partition", "pg9")), std::invalid_argument);
  EXPECT_EQ(resolved, 0) << "validation resolves nothing: the leader is asked when the fault fires";

  const int id = timeline.inject(spec("partition", "primary"), 1.0);
  for (const char* name : {"dcs:pg1", "postgres:pg1"}) {
    const auto toxics = proxies->proxy(name)->toxics;
    ASSERT_EQ(toxics.size(), 1u) << name;
    EXPECT_EQ(toxics[0].type, chaos::toxic_type::timeout);
    EXPECT_EQ(toxics[0].stream, chaos::stream_direction::both);
    EXPECT_EQ(toxics[0].timeout, 0);
  }
  EXPECT_TRUE(proxies->proxy("dcs:pg2")->toxics.empty());
  EXPECT_EQ(applied_to, "pg1");
  EXPECT_EQ(links_cut_when_applied, 1u) << "told once the links are cut, not before";
  timeline.heal(id, 3.0);
  for (const char* name : {"dcs:pg1", "postgres:pg1"}) EXPECT_TRUE(proxies->proxy(name)->toxics.empty()) << name;
  auto records = timeline.records();
  ASSERT_EQ(records.size(), 1u);
  const auto& r = records[0].as_object();
  EXPECT_EQ(r.at("resolved").as_string(), "pg1");
  EXPECT_EQ(json::serialize(r.at("links")), R"(["dcs:pg1","postgres:pg1"])");
  EXPECT_EQ(r.at("end_s").as_double(), 3.0);
  EXPECT_EQ(json::serialize(r.at("parameters")), R"({"type":"timeout","stream":"both","attributes":{"timeout":0}})");

  leader = "pg2";  // after a failover, `primary` is the new leader
  const int second = timeline.inject(spec("partition", "primary"), 4.0);
  EXPECT_EQ(proxies->proxy("dcs:pg2")->toxics.size(), 1u);
  EXPECT_TRUE(proxies->proxy("dcs:pg1")->toxics.empty());
  timeline.heal(second, 5.0);
  leader.clear();
  EXPECT_THROW(timeline.inject(spec("partition", "primary"), 6.0), std::runtime_error);
  records = timeline.records();
  EXPECT_NE(std::string(records.back().at("error").as_string()).find("no Patroni member answers as leader"),
            std::string::npos);
  for (const char* name : {"dcs:pg1", "postgres:pg1", "dcs:pg2"}) EXPECT_TRUE(proxies->proxy(name)->toxics.empty()) << name;
}

}  // namespace
}  // namespace stampede::loadgen
