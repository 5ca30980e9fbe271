// Starting the shop's tiers, in order: the data tier (PostgreSQL or a Patroni cluster and its HAProxy),
// the cache tier (Redis), the payment emulator, the nodes (each runs the order queue's payment workers),
// HAProxy in front; and bringing back what died (HAProxy, nodes with --respawn-ms, Redis).
#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "common/http_client.h"
#include "common/loopback.h"
#include "reference_shop/haproxy_runtime.h"
#include "reference_shop/supervisor_internal.h"

namespace stampede::shop::supervision {

namespace {

bool http_ok(uint16_t port, std::string_view target) {
  try {
    http::blocking_client client{"127.0.0.1", port, std::chrono::milliseconds{500}};
    return client.get(target).status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

child& supervisor::start_with_pipe(child c, std::vector<std::string> argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe: " + std::string{std::strerror(errno)});
  argv.push_back("--ready-fd");
  argv.push_back("3");
  std::vector<std::pair<std::string, std::string>> env;
  if (c.role == "node") env = node_environment();
  try {
    c.pid = spawn(exe_, argv, fds[1], env);
  } catch (...) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw;
  }
  ::close(fds[1]);
  c.alive = true;
  children_.push_back(std::move(c));
  child& added = children_.back();
  try {
    added.port = wait_ready(fds[0], added.role + " " + added.name, std::chrono::seconds{30});
  } catch (...) {
    ::close(fds[0]);
    throw;
  }
  ::close(fds[0]);
  return added;
}

// A node's command line; a respawned node gets the same one (and its first port, so links stay valid).
std::vector<std::string> supervisor::node_argv(int64_t index, uint16_t port) const {
  std::vector<std::string> argv{"stampede", "shop-node"};
  for (auto& a : data_.node_args()) argv.push_back(std::move(a));
  const std::vector<std::string> rest{"--name",    "node" + std::to_string(index),
                                      "--port",    std::to_string(port),
                                      "--threads", std::to_string(o_.threads),
                                      "--kdf",     o_.kdf_text,
                                      "--payment", payment_address_};
  argv.insert(argv.end(), rest.begin(), rest.end());
  for (auto& a : cache_.node_args()) argv.push_back(std::move(a));
  route_node_links(argv, o_.data_links, index);  // --db-via, --redis-via: through its fault proxies
  if (index == 1 && args_.has("txn-fault")) argv.insert(argv.end(), {"--txn-fault", args_.get("txn-fault")});
  for (const auto& flag : node_tuning_flags()) {  // passed through unchanged
    if (args_.has(flag.name)) {
      argv.emplace_back(flag.name);
      argv.push_back(args_.get(flag.name));
    }
  }
  return argv;
}

void supervisor::start() {
  check_observability();  // before anything starts: a missing Prometheus is one line, not a started shop
  start_data_tier();
  start_cache_tier();
  start_payment_emulator();
  start_nodes();
  start_edge();
  if (o_.autoscale.enabled()) elastic_ = std::make_unique<elastic_pool>(*this, o_.autoscale, o_.data);
  start_observability();
  announce();
}

// The data tier first (PostgreSQL: the server, watched and stopped with the other children), then one
// migration and seed here, before any node starts, so nodes never race to seed.
void supervisor::start_data_tier() {
  if (o_.ha == "patroni") {
    // Patroni starts each postmaster detached: as a subreaper we get (and reap) the ones a killed Patroni
    // leaves.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }
  data_.start();
  if (data_.cluster() != nullptr) {
    std::fprintf(stderr, "stampede shop: database %s\n", data_.description().c_str());
    start_db_haproxy();
  }
  if (data_.server_pid() > 0) {
    children_.push_back(child{"database", "postgres", data_.server_pid(), data_.server_port(), true});
    std::fprintf(stderr, "stampede shop: database %s (pid %d)\n", data_.description().c_str(),
                 data_.server_pid());
  }
  int shard = 0;
  for (const auto& [pid, port] : data_.other_shard_servers()) {  // --shards: watched and stopped alike
    children_.push_back(child{"database", "postgres-shard" + std::to_string(++shard), pid, port, true});
  }
  data_.prepare(o_.scale, args_.has("scale"), *parse_kdf_cost(o_.kdf_text));
}

void supervisor::start_cache_tier() {
  if (const pid_t pid = cache_.start(); pid > 0) {
    children_.push_back(child{"cache", "redis", pid, cache_.port(), true});
    std::fprintf(stderr, "stampede shop: cache redis on 127.0.0.1:%u (pid %d)\n", cache_.port(), pid);
  }
}

void supervisor::start_payment_emulator() {
  std::vector<std::string> emulator_argv{"stampede", "payment-emulator", "--port",
                                         std::to_string(o_.payment_port)};
  for (auto [flag, target] : {std::pair{"payment-latency-median-ms", "--latency-median-ms"},
                              std::pair{"payment-latency-p99-ms", "--latency-p99-ms"},
                              std::pair{"payment-failure-rate", "--failure-rate"},
                              std::pair{"payment-decline-rate", "--decline-rate"},
                              std::pair{"payment-lose-rate", "--lose-response-rate"}}) {
    if (args_.has(flag)) {
      emulator_argv.push_back(target);
      emulator_argv.push_back(args_.get(flag));
    }
  }
  const uint16_t emulator_port =
      start_with_pipe(child{"payment_emulator", "payment-emulator"}, emulator_argv).port;
  payment_address_ = o_.payment_via ? o_.payment_via->first + ":" + std::to_string(o_.payment_via->second)
                                    : "127.0.0.1:" + std::to_string(emulator_port);
}

void supervisor::start_nodes() {
  for (int64_t i = 1; i <= o_.nodes; ++i) {
    const uint16_t port = o_.node_ports.empty() ? 0 : o_.node_ports[static_cast<size_t>(i - 1)];
    start_with_pipe(child{"node", "node" + std::to_string(i)}, node_argv(i, port));
  }
}

void supervisor::check_haproxy_binary() const {
  if (::access(o_.haproxy_bin.c_str(), X_OK) != 0) {
    throw std::runtime_error(o_.haproxy_bin +
                             " not found: install Debian's haproxy package (or pass --haproxy PATH)");
  }
}

void supervisor::start_edge() {
  hc_ = o_.edge;
  hc_.balance = o_.lb;
  hc_.frontend_port = o_.port == 0 ? free_loopback_port() : static_cast<uint16_t>(o_.port);
  hc_.stats_port = free_loopback_port();
  hc_.runtime_port = free_loopback_port();
  for (auto& c : children_) {
    if (c.role != "node") continue;
    const size_t i = hc_.servers.size();
    haproxy_config::server server{c.name, "127.0.0.1", c.port, o_.weights.empty() ? 100 : o_.weights[i]};
    if (!o_.node_via.empty()) std::tie(server.host, server.port) = o_.node_via[i];
    hc_.servers.push_back(std::move(server));
  }
  {
    std::ofstream out{config_path_};
    out << render_haproxy_config(hc_);
    if (!out) throw std::runtime_error("cannot write " + config_path_);
  }
  check_haproxy_binary();
  start_haproxy();

  // Ready when HAProxy answers through to a node.
  const auto deadline = steady::now() + std::chrono::seconds{15};
  while (!http_ok(hc_.frontend_port, "/readyz")) {
    reap();
    if (!find("haproxy")->alive) throw std::runtime_error("haproxy exited at start (port in use?)");
    if (steady::now() > deadline) throw std::runtime_error("haproxy did not become ready");
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

void supervisor::announce() {
  entry_ = "http://127.0.0.1:" + std::to_string(hc_.frontend_port);
  prepare_restart_requests();
  write_topology();
  std::printf("%s\n", entry_.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "stampede shop: %lld nodes behind haproxy (%s, maxconn %d), topology in %s\n",
               static_cast<long long>(o_.nodes), o_.lb.c_str(), hc_.global_maxconn, o_.topology_path.c_str());
  if (args_.has("inject-bug")) {
    std::fprintf(stderr, "stampede shop: BROKEN ON PURPOSE (--inject-bug %s)\n",
                 args_.get("inject-bug").c_str());
  }
}

std::string supervisor::db_haproxy_config_path() const {
  return (std::filesystem::path{o_.data} / "haproxy-db.cfg").string();
}

// The database HAProxy (--ha patroni): in front of the members, before any node connects; ready once a
// member passed the /primary check and a connection through it reaches PostgreSQL.
void supervisor::start_db_haproxy() {
  const std::string path = db_haproxy_config_path();
  {
    std::ofstream out{path};
    out << render_haproxy_db_config(data_.db_haproxy_config());
    if (!out) throw std::runtime_error("cannot write " + path);
  }
  check_haproxy_binary();
  child c{"haproxy_db", "haproxy-db"};
  c.pid = spawn(o_.haproxy_bin, {"haproxy", "-db", "-f", path}, -1, {});
  c.alive = true;
  c.port = data_.db_haproxy_config().primary_port;
  children_.push_back(c);
  // HAProxy counts a server as up until its checks say otherwise: ready once exactly one member passed the
  // /primary check and the others failed it, so that no first session lands on a replica.
  const auto config = data_.db_haproxy_config();
  // --shards: every shard's primary frontend (postgres_primary_shardS) alike.
  std::vector<std::pair<std::string, uint16_t>> frontends{{"postgres_primary", c.port}};
  for (size_t s = 0; s < config.other_shards.size(); ++s) {
    frontends.emplace_back("postgres_primary_shard" + std::to_string(s + 1), config.other_shards[s].port);
  }
  const auto clusters = data_.clusters();
  auto checked = [&](size_t i) {
    const auto states =
        haproxy_server_states(config.runtime_port, frontends[i].first, std::chrono::seconds{1});
    if (!states || states->size() != clusters[i]->members().size()) return false;
    int up = 0, down = 0;
    for (const auto& [name, state] : *states) (state == 2 ? up : state == 0 ? down : up) += 1;
    return up == 1 && up + down == static_cast<int>(states->size());
  };
  auto ready = [&] {
    for (size_t i = 0; i < frontends.size(); ++i) {
      const std::string ping =
          "host=127.0.0.1 port=" + std::to_string(frontends[i].second) + " dbname=shop connect_timeout=2";
      if (!checked(i) || PQping(ping.c_str()) != PQPING_OK) return false;
    }
    return true;
  };
  const auto deadline = steady::now() + std::chrono::seconds{15};
  while (!ready()) {
    reap();
    if (!find("haproxy_db")->alive)
      throw std::runtime_error("the database haproxy exited at start (port in use?)");
    if (steady::now() > deadline)
      throw std::runtime_error("the database haproxy found no primary within 15 s");
    std::this_thread::sleep_for(std::chrono::milliseconds{100});  // polling HAProxy's first checks
  }
}

void supervisor::start_haproxy() {
  child* hp = find("haproxy");
  if (hp == nullptr) {
    children_.push_back(child{"haproxy", "haproxy"});
    hp = &children_.back();
  }
  hp->pid = spawn(o_.haproxy_bin, {"haproxy", "-db", "-f", config_path_}, -1, {});
  hp->alive = true;
  hp->port = hc_.frontend_port;
}

// Starts HAProxy again with the same configuration (same ports); true once its front door accepts
// connections, false if it exited or did not listen within 5 s.
bool supervisor::restart_haproxy() {
  start_haproxy();
  const pid_t pid = find("haproxy")->pid;
  const auto deadline = steady::now() + std::chrono::seconds{5};
  while (steady::now() < deadline) {
    reap();
    const child* hp = find("haproxy");
    if (!hp->alive || hp->pid != pid) return false;
    if (tcp_accepts(hc_.frontend_port)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});  // HAProxy binds within milliseconds
  }
  ::kill(pid, SIGKILL);
  return false;
}

// Starts the node again and returns: watch_respawns() reads its ready pipe in later steps of the loop, so a
// node slow to start (or paused) holds back neither HAProxy's restart nor a stop signal.
void supervisor::respawn_node(child& c) {
  const int64_t index = std::atoll(c.name.c_str() + 4);  // "nodeN"
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  auto argv = node_argv(index, c.port);
  argv.push_back("--ready-fd");
  argv.push_back("3");
  const pid_t previous = c.pid;
  try {
    auto env = node_environment();
    c.pid = spawn(exe_, argv, fds[1], env);
    c.alive = true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede shop: respawning %s failed: %s\n", c.name.c_str(), e.what());
    ::close(fds[0]);
    ::close(fds[1]);
    return;
  }
  ::close(fds[1]);
  if (const auto old = respawning_.find(c.name); old != respawning_.end()) ::close(old->second.fd);
  respawning_[c.name] = pending_ready{fds[0], steady::now() + std::chrono::seconds{30}, {}, previous};
}

// Respawned nodes that reported their port (the same as before) are announced in the topology; one that
// exited first or stayed silent for 30 s is reported (a dead one is respawned again by respawn_nodes()).
void supervisor::watch_respawns() {
  for (auto it = respawning_.begin(); it != respawning_.end();) {
    auto& [name, pending] = *it;
    char buffer[64];
    ssize_t n = -1;
    while (pending.text.find('\n') == std::string::npos &&
           (n = ::read(pending.fd, buffer, sizeof buffer)) > 0) {
      pending.text.append(buffer, static_cast<size_t>(n));
    }
    const child* c = nullptr;
    for (const auto& x : children_) {
      if (x.name == name && x.role == "node") c = &x;
    }
    std::string failure;
    if (pending.text.find('\n') != std::string::npos) {
      if (c != nullptr)
        std::fprintf(stderr, "stampede shop: node %s respawned (pid %d)\n", name.c_str(), c->pid);
      ::close(pending.fd);
      it = respawning_.erase(it);
      write_topology();  // now naming its new pid
      continue;
    }
    if (c == nullptr) {
      // retired by the autoscaler meanwhile: nothing to report
    } else if (n == 0) {
      failure = "node " + name + " exited before it was ready (see its messages above)";
    } else if (steady::now() > pending.deadline) {
      failure = "node " + name + " did not become ready in time";
    } else {
      ++it;
      continue;
    }
    if (!failure.empty())
      std::fprintf(stderr, "stampede shop: respawning %s failed: %s\n", name.c_str(), failure.c_str());
    ::close(pending.fd);
    it = respawning_.erase(it);
  }
}

// Redis died (a drill's kill, a crash): start it again on its port after --redis-respawn-ms; the nodes
// reconnect by themselves (redis_client.h's backoff) and find it empty.
void supervisor::respawn_cache() {
  child* redis = find("cache");
  if (redis == nullptr || redis->alive || cache_.respawn_delay().count() < 0) return;
  if (cache_due_ == steady::time_point::max()) cache_due_ = steady::now() + cache_.respawn_delay();
  if (steady::now() < cache_due_) return;
  cache_due_ = steady::time_point::max();
  try {
    redis->pid = cache_.restart();
    redis->alive = true;
    std::fprintf(stderr, "stampede shop: cache redis restarted (pid %d)\n", redis->pid);
    write_topology();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede shop: restarting redis failed: %s\n", e.what());
  }
}

}  // namespace stampede::shop::supervision
