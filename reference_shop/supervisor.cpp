// Supervisor. Concurrency model: one thread; SIGINT, SIGTERM and SIGCHLD are blocked and taken with
// sigtimedwait, so child exits and stop requests are handled in order in normal code.
#include "reference_shop/supervisor.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <vector>

#include "common/http_client.h"
#include "common/limits.h"
#include "common/loopback.h"
#include "reference_shop/cache_tier.h"
#include "reference_shop/child_process.h"
#include "reference_shop/data_tier.h"
#include "reference_shop/haproxy_config.h"
#include "reference_shop/haproxy_runtime.h"
#include "reference_shop/options.h"
#include "reference_shop/passwords.h"
#include "reference_shop/seed.h"
#include "reference_shop/sqlite_store.h"

namespace stampede::shop {

namespace json = boost::json;
using steady = std::chrono::steady_clock;

namespace {

constexpr int exit_usage = 2;

constexpr const char* usage =
    "usage: stampede shop [--nodes N] [--threads T] [--lb roundrobin|leastconn|source|uri|random|first]\n"
    "                     [--data DIR] [--scale S] [--port P] [--topology FILE]\n"
    "                     [--kdf interactive|moderate|minimal] [--kdf-workers N] [--kdf-queue N]\n"
    "                     [--kdf-max-wait-ms MS]\n"
    "                     [--login-rate-source R[:B]|off] [--login-failures-account R[:B]|off]\n"
    "                     [--weights W1,W2,...] [--workers N] [--lease-ms MS] [--max-attempts N]\n"
    "                     [--rate-limit-client R[:B]] [--rate-limit-global R[:B]] [--flash-max-inflight N]\n"
    "                     [--payment-latency-median-ms MS] [--payment-latency-p99-ms MS]\n"
    "                     [--payment-failure-rate R] [--payment-decline-rate R] [--payment-lose-rate R]\n"
    "                     [--haproxy PATH] [--server-maxconn N] [--queue-timeout-ms MS]\n"
    "                     [--edge-conn-limit N] [--edge-conn-rate N] [--edge-request-timeout-ms MS]\n"
    "                     [--node-ports P1,P2,...] [--payment-port P]\n"
    "                     [--node-via HOST:PORT,...] [--payment-via HOST:PORT] [--respawn-ms MS]\n"
    "                     [--inject-bug double-capture] [--db sqlite|postgres] [--db-pool N] [--pg-bin DIR]\n"
    "                     [--ha none|patroni] [--replicas N] [--sync-replication on|off]\n"
    "                     [--replica-reads off|on|read-your-writes] [--replica-pin-ms MS] [--pg-ports P1,...]\n"
    "                     [--replication-via pg1=HOST:PORT,...]\n"
    "                     [--cache local|redis] [--redis-bin PATH] [--redis-maxmemory-mb N] [--redis-respawn-ms MS|off]\n"
    "                     [--cache-ttl-ms MS] [--cache-db-loads N] [--cache-lock-wait-ms MS] [--redis-timeout-ms MS]\n"
    "       stampede shop seed [--scale S] [--data DIR] [--kdf ...]\n"
    "Starts N shop nodes behind HAProxy plus a payment emulator on 127.0.0.1, writes the topology JSON\n"
    "(default DIR/topology.json), prints the entry URL, and stops everything on Ctrl-C or SIGTERM.\n"
    "HAProxy is restarted when it dies; the shop exits 1 when it cannot be restarted (5 tries in a row).\n"
    "Links (for fault proxies, as `stampede drill` does): --node-ports/--payment-port fix the listening ports,\n"
    "--node-via makes HAProxy reach node i at the i-th address, --payment-via makes nodes call the payment\n"
    "emulator at that address; --respawn-ms restarts a node that died, on the same port, after MS.\n"
    "--db postgres runs one PostgreSQL 15 server (DIR/postgres, binaries in --pg-bin, default\n"
    "/usr/lib/postgresql/15/bin) instead of the SQLite file DIR/shop.db; each node keeps up to --db-pool\n"
    "sessions (default 8).\n"
    "--ha patroni (with --db postgres) runs a Patroni cluster instead: etcd, a primary and --replicas N\n"
    "(default 2) streaming replicas (DIR/patroni, fresh on every start), with Patroni's synchronous mode\n"
    "when --sync-replication on (default off); nodes reach the current primary through a second HAProxy.\n"
    "--replica-reads on sends order reads to its replicas; read-your-writes sends them to the primary for\n"
    "--replica-pin-ms (5000) after the client's last order. --pg-ports fixes the members' ports;\n"
    "--replication-via pgK=ADDR makes the other members replicate from pgK via ADDR (a fault proxy).\n"
    "--cache redis runs one redis-server (DIR/redis, 127.0.0.1, a free port) shared by all nodes instead of\n"
    "their own caches; it is started again on its port --redis-respawn-ms (1000) after it died.\n";

// Node flags the supervisor passes through unchanged.
constexpr const char* node_flags[] = {"workers",           "lease-ms",          "max-attempts",
                                      "rate-limit-client", "rate-limit-global", "flash-max-inflight",
                                      "kdf-workers",       "kdf-queue",         "kdf-max-wait-ms",
                                      "login-rate-source",
                                      "login-failures-account", "inject-bug",
                                      "cache-ttl-ms",      "cache-db-loads",    "cache-lock-wait-ms",
                                      "redis-timeout-ms"};

constexpr int haproxy_max_failed_starts = 5;

struct child {
  std::string role;  // node | payment_emulator | haproxy
  std::string name;
  pid_t pid = -1;
  uint16_t port = 0;
  bool alive = false;
};

bool http_ok(uint16_t port, std::string_view target) {
  try {
    http::blocking_client client{"127.0.0.1", port, std::chrono::milliseconds{500}};
    return client.get(target).status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

// "host:port" -> (host, port); throws std::invalid_argument naming the flag.
std::pair<std::string, uint16_t> parse_address(const std::string& text, const std::string& flag) {
  const size_t colon = text.rfind(':');
  const int port = colon == std::string::npos ? 0 : std::atoi(text.c_str() + colon + 1);
  if (colon == std::string::npos || colon == 0 || port <= 0 || port > 65535 ||
      text.find_first_not_of("0123456789", colon + 1) != std::string::npos) {
    throw std::invalid_argument("--" + flag + ": '" + text + "' is not HOST:PORT");
  }
  return {text.substr(0, colon), static_cast<uint16_t>(port)};
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

int seed_command(const arg_list& a) {
  if (a.get("db", "sqlite") != "sqlite") {
    throw std::invalid_argument(
        "`shop seed` seeds SQLite only; `stampede shop --db postgres --scale S` seeds PostgreSQL");
  }
  const std::string dir = a.get("data", "stampede-shop-data");
  const int64_t scale = a.get_int("scale", 1, 1, 1000);
  auto kdf = parse_kdf_cost(a.get("kdf", "interactive"));
  if (!kdf) throw std::invalid_argument("--kdf must be interactive, moderate or minimal");
  std::filesystem::create_directories(dir);
  sqlite_store db{(std::filesystem::path{dir} / "shop.db").string()};
  db.migrate();
  db.reseed(scale, hash_password(seed_password, *kdf));
  std::printf("seeded %s/shop.db at scale %lld: %lld products, %lld customers (password '%s')\n", dir.c_str(),
              static_cast<long long>(scale), static_cast<long long>(1000 * scale),
              static_cast<long long>(1000 * scale), seed_password);
  return 0;
}

// Everything `stampede shop` was asked for, validated.
struct shop_options {
  int64_t nodes = 3, threads = 2, scale = 1, port = 8080, payment_port = 0, respawn_ms = -1;
  std::string lb, data, topology_path, kdf_text, haproxy_bin;
  std::string db_kind, pg_bin, ha;
  int64_t db_pool = 8, replicas = 2;
  bool sync_replication = false;
  std::vector<int> weights;
  std::vector<uint16_t> node_ports;                        // empty: any
  std::vector<std::pair<std::string, uint16_t>> node_via;  // empty: HAProxy reaches the nodes directly
  std::optional<std::pair<std::string, uint16_t>> payment_via;
  haproxy_config edge;  // the limits and timeouts part (ports and servers are filled in at start)
  cache_tier_options cache;
  replica_tier_options replica;
};

// Throws std::invalid_argument for a bad flag (usage error), std::runtime_error for the environment.
shop_options parse_shop_options(const arg_list& a) {
  shop_options o;
  o.nodes = a.get_int("nodes", 3, 1, 64);
  o.threads = a.get_int("threads", 2, 1, 256);
  o.scale = a.get_int("scale", 1, 1, 1000);
  o.port = a.get_int("port", 8080, 0, 65535);
  o.lb = a.get("lb", "roundrobin");
  if (!valid_balance(o.lb)) throw std::invalid_argument("--lb must be roundrobin, leastconn, source, uri, random or first");
  o.kdf_text = a.get("kdf", "interactive");
  if (!parse_kdf_cost(o.kdf_text)) throw std::invalid_argument("--kdf must be interactive, moderate or minimal");
  if (a.has("inject-bug") && a.get("inject-bug") != "double-capture") {
    throw std::invalid_argument("--inject-bug: unknown bug '" + a.get("inject-bug") + "' (known: double-capture)");
  }
  o.haproxy_bin = a.get("haproxy", "/usr/sbin/haproxy");
  o.db_kind = a.get("db", "sqlite");
  if (o.db_kind != "sqlite" && o.db_kind != "postgres") {
    throw std::invalid_argument("--db must be sqlite or postgres");
  }
  o.db_pool = a.get_int("db-pool", 8, 1, 200);
  o.pg_bin = a.get("pg-bin", default_postgres_bin_dir);
  o.ha = a.get("ha", "none");
  if (o.ha != "none" && o.ha != "patroni") throw std::invalid_argument("--ha must be none or patroni");
  if (o.ha == "patroni" && o.db_kind != "postgres") throw std::invalid_argument("--ha patroni needs --db postgres");
  o.replicas = a.get_int("replicas", 2, 0, 8);
  const std::string sync = a.get("sync-replication", "off");
  if (sync != "on" && sync != "off") throw std::invalid_argument("--sync-replication must be on or off");
  o.sync_replication = sync == "on";
  if (a.has("weights")) {
    for (const auto& w : split_commas(a.get("weights"))) {
      const int v = std::atoi(w.c_str());
      if (v < 0 || v > 256 || w.empty() || w.find_first_not_of("0123456789") != std::string::npos) {
        throw std::invalid_argument("--weights are integers 0..256");
      }
      o.weights.push_back(v);
    }
    if (static_cast<int64_t>(o.weights.size()) != o.nodes) throw std::invalid_argument("--weights needs one weight per node");
  }
  if (a.has("node-ports")) {
    for (const auto& p : split_commas(a.get("node-ports"))) {
      const int v = std::atoi(p.c_str());
      if (v <= 0 || v > 65535 || p.find_first_not_of("0123456789") != std::string::npos) {
        throw std::invalid_argument("--node-ports are ports 1..65535");
      }
      o.node_ports.push_back(static_cast<uint16_t>(v));
    }
    if (static_cast<int64_t>(o.node_ports.size()) != o.nodes) throw std::invalid_argument("--node-ports needs one port per node");
  }
  if (a.has("node-via")) {
    for (const auto& v : split_commas(a.get("node-via"))) o.node_via.push_back(parse_address(v, "node-via"));
    if (static_cast<int64_t>(o.node_via.size()) != o.nodes) throw std::invalid_argument("--node-via needs one address per node");
  }
  if (a.has("payment-via")) o.payment_via = parse_address(a.get("payment-via"), "payment-via");
  o.payment_port = a.get_int("payment-port", 0, 0, 65535);
  o.respawn_ms = a.get_int("respawn-ms", -1, 0, 600'000);
  auto& e = o.edge;
  e.server_maxconn = static_cast<int>(a.get_int("server-maxconn", e.server_maxconn, 1, 100'000));
  e.queue_timeout = std::chrono::milliseconds{a.get_int("queue-timeout-ms", e.queue_timeout.count(), 1, 600'000)};
  e.per_source_connections = static_cast<int>(a.get_int("edge-conn-limit", e.per_source_connections, 0, 10'000'000));
  e.per_source_connection_rate = static_cast<int>(a.get_int("edge-conn-rate", e.per_source_connection_rate, 0, 100'000'000));
  e.http_request_timeout =
      std::chrono::milliseconds{a.get_int("edge-request-timeout-ms", e.http_request_timeout.count(), 100, 600'000)};
  const auto sizing = size_maxconn(current_fd_limits().soft);
  e.global_maxconn = sizing.global;
  e.frontend_maxconn = sizing.frontend;
  o.data = a.get("data");
  if (o.data.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "stampede-shop-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create a data directory");
    o.data = pattern;
  }
  std::filesystem::create_directories(o.data);
  o.data = std::filesystem::absolute(o.data).string();
  o.topology_path = a.get("topology", (std::filesystem::path{o.data} / "topology.json").string());
  o.cache = parse_cache_tier_options(a, o.data);
  o.replica = parse_replica_tier_options(a);
  return o;
}

class supervisor {
 public:
  supervisor(const arg_list& args, shop_options options)
      : args_(args), o_(std::move(options)), exe_(self_exe()), admin_token_(random_token()),
        config_path_((std::filesystem::path{o_.data} / "haproxy.cfg").string()),
        data_(data_tier_options{o_.db_kind, o_.data, o_.nodes, static_cast<int>(o_.db_pool), o_.pg_bin, o_.ha,
                                static_cast<int>(o_.replicas), o_.sync_replication, o_.replica}),
        cache_(o_.cache) {}
  ~supervisor() { shutdown(); }

  // Seeds, starts the emulator, the nodes and HAProxy, writes the topology and prints the entry URL.
  void start();
  // Until SIGINT/SIGTERM: reports deaths, respawns nodes (--respawn-ms) and HAProxy. Returns the exit code.
  int run(const sigset_t& signals);
  void shutdown();

 private:
  child& start_with_pipe(child c, std::vector<std::string> argv);
  std::vector<std::string> node_argv(int64_t index, uint16_t port) const;
  // What a node finds in its environment: the data tier's and the cache tier's settings (passwords stay
  // off argv) and the admin token.
  std::vector<std::pair<std::string, std::string>> node_environment() const;
  void start_haproxy();
  void start_db_haproxy();
  bool restart_haproxy();
  void respawn_node(child& c);
  void respawn_cache();
  void write_topology();
  int reap();
  child* find(std::string_view role);
  template <class Pred>
  void stop_children(Pred selected);

  const arg_list& args_;
  shop_options o_;
  const std::string exe_, admin_token_, config_path_;
  data_tier data_;
  std::string payment_address_, entry_;
  haproxy_config hc_;
  std::vector<child> children_;
  cache_tier cache_;  // after children_: its server's process is one of them
  steady::time_point cache_due_ = steady::time_point::max();  // when to start a dead Redis again
  bool stopping_ = false;
  bool shut_down_ = false;
};

std::vector<std::pair<std::string, std::string>> supervisor::node_environment() const {
  auto env = data_.node_env();
  for (auto& e : cache_.node_env()) env.push_back(std::move(e));
  env.emplace_back("STAMPEDE_SHOP_ADMIN_TOKEN", admin_token_);
  return env;
}

child* supervisor::find(std::string_view role) {
  for (auto& c : children_) {
    if (c.role == role) return &c;
  }
  return nullptr;
}

// Reaps exited children and reports them; returns how many died.
int supervisor::reap() {
  int died = 0;
  while (true) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    // A Patroni member, its postmaster (re-parented to us, the subreaper) or etcd.
    if (auto* cluster = data_.cluster(); cluster != nullptr && cluster->owns(pid)) {
      if (!stopping_) {
        std::fprintf(stderr, "stampede shop: database process %d %s\n", pid, describe_status(status).c_str());
      }
      cluster->forget(pid);
    }
    for (auto& c : children_) {
      if (c.pid == pid && c.alive) {
        c.alive = false;
        ++died;
        if (!stopping_) {
          std::fprintf(stderr, "stampede shop: %s %s (pid %d) %s\n", c.role.c_str(), c.name.c_str(), pid,
                       describe_status(status).c_str());
        }
      }
    }
  }
  return died;
}

// SIGINT to nodes and the emulator (stop now), SIGTERM to HAProxy; SIGKILL whatever is left after 10 s.
// SIGCONT after the stop signal: a child paused by a drill (SIGSTOP) that died before healing it would
// otherwise keep its stop signal pending until the 10 s SIGKILL. The database goes last (SIGINT is
// PostgreSQL's fast shutdown), once no node can be in the middle of a transaction.
void supervisor::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  stopping_ = true;
  stop_children([](const child& c) { return c.role != "database" && c.role != "haproxy_db"; });
  stop_children([](const child& c) { return c.role == "haproxy_db"; });
  stop_children([](const child& c) { return c.role == "database"; });
  data_.release();
  data_.stop_cluster();
}

template <class Pred>
void supervisor::stop_children(Pred selected) {
  for (auto& c : children_) {
    if (!c.alive || !selected(c)) continue;
    ::kill(c.pid, c.role == "haproxy" ? SIGTERM : SIGINT);
    ::kill(c.pid, SIGCONT);
  }
  const auto deadline = steady::now() + std::chrono::seconds{10};
  auto any_alive = [&] {
    for (const auto& c : children_) {
      if (c.alive && selected(c)) return true;
    }
    return false;
  };
  while (any_alive() && steady::now() < deadline) {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    timespec ts{0, 50'000'000};
    ::sigtimedwait(&chld, nullptr, &ts);
    reap();
  }
  for (auto& c : children_) {
    if (c.alive && selected(c)) {
      std::fprintf(stderr, "stampede shop: %s %s did not stop, killing it\n", c.role.c_str(), c.name.c_str());
      ::kill(c.pid, SIGKILL);
      ::waitpid(c.pid, nullptr, 0);
      c.alive = false;
    }
  }
}

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
  const std::vector<std::string> rest{"--name",    "node" + std::to_string(index), "--port",
                                      std::to_string(port), "--threads", std::to_string(o_.threads),
                                      "--kdf",     o_.kdf_text, "--payment", payment_address_};
  argv.insert(argv.end(), rest.begin(), rest.end());
  for (auto& a : cache_.node_args()) argv.push_back(std::move(a));
  for (auto flag : node_flags) {
    if (args_.has(flag)) {
      argv.push_back(std::string{"--"} + flag);
      argv.push_back(args_.get(flag));
    }
  }
  return argv;
}

void supervisor::start() {
  // The data tier first (PostgreSQL: the server, watched and stopped with the other children), then one
  // migration and seed here, before any node starts, so nodes never race to seed.
  if (o_.ha == "patroni") {
    // Patroni starts each postmaster detached: as a subreaper we get (and reap) the ones a killed Patroni leaves.
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
  data_.prepare(o_.scale, args_.has("scale"), *parse_kdf_cost(o_.kdf_text));
  std::vector<std::string> emulator_argv{"stampede", "payment-emulator", "--port", std::to_string(o_.payment_port)};
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
  if (const pid_t pid = cache_.start(); pid > 0) {
    children_.push_back(child{"cache", "redis", pid, cache_.port(), true});
    std::fprintf(stderr, "stampede shop: cache redis on 127.0.0.1:%u (pid %d)\n", cache_.port(), pid);
  }
  const uint16_t emulator_port = start_with_pipe(child{"payment_emulator", "payment-emulator"}, emulator_argv).port;
  payment_address_ = o_.payment_via ? o_.payment_via->first + ":" + std::to_string(o_.payment_via->second)
                                    : "127.0.0.1:" + std::to_string(emulator_port);
  for (int64_t i = 1; i <= o_.nodes; ++i) {
    const uint16_t port = o_.node_ports.empty() ? 0 : o_.node_ports[static_cast<size_t>(i - 1)];
    start_with_pipe(child{"node", "node" + std::to_string(i)}, node_argv(i, port));
  }

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
  if (::access(o_.haproxy_bin.c_str(), X_OK) != 0) {
    throw std::runtime_error(o_.haproxy_bin + " not found: install Debian's haproxy package (or pass --haproxy PATH)");
  }
  start_haproxy();

  // Ready when HAProxy answers through to a node.
  const auto deadline = steady::now() + std::chrono::seconds{15};
  while (!http_ok(hc_.frontend_port, "/readyz")) {
    reap();
    if (!find("haproxy")->alive) throw std::runtime_error("haproxy exited at start (port in use?)");
    if (steady::now() > deadline) throw std::runtime_error("haproxy did not become ready");
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  entry_ = "http://127.0.0.1:" + std::to_string(hc_.frontend_port);
  write_topology();
  std::printf("%s\n", entry_.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "stampede shop: %lld nodes behind haproxy (%s, maxconn %d), topology in %s\n",
               static_cast<long long>(o_.nodes), o_.lb.c_str(), hc_.global_maxconn, o_.topology_path.c_str());
  if (args_.has("inject-bug")) {
    std::fprintf(stderr, "stampede shop: BROKEN ON PURPOSE (--inject-bug %s)\n", args_.get("inject-bug").c_str());
  }
}

// The database HAProxy (--ha patroni): in front of the members, before any node connects; ready once a
// member passed the /primary check and a connection through it reaches PostgreSQL.
void supervisor::start_db_haproxy() {
  const std::string path = (std::filesystem::path{o_.data} / "haproxy-db.cfg").string();
  {
    std::ofstream out{path};
    out << render_haproxy_db_config(data_.db_haproxy_config());
    if (!out) throw std::runtime_error("cannot write " + path);
  }
  if (::access(o_.haproxy_bin.c_str(), X_OK) != 0) {
    throw std::runtime_error(o_.haproxy_bin + " not found: install Debian's haproxy package (or pass --haproxy PATH)");
  }
  child c{"haproxy_db", "haproxy-db"};
  c.pid = spawn(o_.haproxy_bin, {"haproxy", "-db", "-f", path}, -1, {});
  c.alive = true;
  c.port = data_.db_haproxy_config().primary_port;
  children_.push_back(c);
  // HAProxy counts a server as up until its checks say otherwise: ready once exactly one member passed the
  // /primary check and the others failed it, so that no first session lands on a replica.
  const uint16_t runtime = data_.db_haproxy_config().runtime_port;
  auto checked = [&] {
    const auto states = haproxy_server_states(runtime, "postgres_primary", std::chrono::seconds{1});
    if (!states || states->size() != data_.cluster()->members().size()) return false;
    int up = 0, down = 0;
    for (const auto& [name, state] : *states) (state == 2 ? up : state == 0 ? down : up) += 1;
    return up == 1 && up + down == static_cast<int>(states->size());
  };
  const std::string ping = "host=127.0.0.1 port=" + std::to_string(c.port) + " dbname=shop connect_timeout=2";
  const auto deadline = steady::now() + std::chrono::seconds{15};
  while (!checked() || PQping(ping.c_str()) != PQPING_OK) {
    reap();
    if (!find("haproxy_db")->alive) throw std::runtime_error("the database haproxy exited at start (port in use?)");
    if (steady::now() > deadline) throw std::runtime_error("the database haproxy found no primary within 15 s");
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

void supervisor::respawn_node(child& c) {
  const int64_t index = std::atoll(c.name.c_str() + 4);  // "nodeN"
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  auto argv = node_argv(index, c.port);
  argv.push_back("--ready-fd");
  argv.push_back("3");
  try {
    auto env = node_environment();
    c.pid = spawn(exe_, argv, fds[1], env);
    c.alive = true;
    ::close(fds[1]);
    fds[1] = -1;
    (void)wait_ready(fds[0], "node " + c.name, std::chrono::seconds{30});
    std::fprintf(stderr, "stampede shop: node %s respawned (pid %d)\n", c.name.c_str(), c.pid);
    write_topology();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede shop: respawning %s failed: %s\n", c.name.c_str(), e.what());
  }
  if (fds[1] >= 0) ::close(fds[1]);
  ::close(fds[0]);
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

void supervisor::write_topology() {
  json::array node_list;
  json::object haproxy, emulator, db_haproxy;
  for (const auto& c : children_) {
    if (c.role == "node") {
      node_list.push_back(json::object{{"name", c.name}, {"pid", c.pid}, {"port", c.port},
                                       {"url", "http://127.0.0.1:" + std::to_string(c.port)}});
    } else if (c.role == "haproxy") {
      haproxy = json::object{{"pid", c.pid},
                             {"url", entry_},
                             {"config", config_path_},
                             {"metrics_url", "http://127.0.0.1:" + std::to_string(hc_.stats_port) + "/metrics"},
                             {"stats_url", "http://127.0.0.1:" + std::to_string(hc_.stats_port) + "/stats"},
                             {"runtime_api", "127.0.0.1:" + std::to_string(hc_.runtime_port)}};
    } else if (c.role == "haproxy_db") {
      db_haproxy = json::object{{"pid", c.pid},
                                {"primary", "127.0.0.1:" + std::to_string(c.port)},
                                {"replicas", "127.0.0.1:" + std::to_string(data_.db_haproxy_config().replica_port)},
                                {"config", (std::filesystem::path{o_.data} / "haproxy-db.cfg").string()},
                                {"runtime_api", "127.0.0.1:" + std::to_string(data_.db_haproxy_config().runtime_port)}};
    } else if (c.role == "payment_emulator") {
      emulator = json::object{{"pid", c.pid}, {"url", "http://127.0.0.1:" + std::to_string(c.port)}};
    }
  }
  json::object topology{
      {"entry_url", entry_},     {"admin_token", admin_token_}, {"supervisor_pid", ::getpid()},
      {"data_dir", o_.data},     {"database", data_.topology()},  {"lb", o_.lb},
      {"threads", o_.threads},   {"nodes", std::move(node_list)}, {"haproxy", std::move(haproxy)},
      {"payment_emulator", std::move(emulator)},
  };
  if (!db_haproxy.empty()) topology["database_haproxy"] = std::move(db_haproxy);
  // Chaos targets by name for drills (`pg1`, `primary`, `etcd`): loadgen/topology.h reads them as nodes.
  if (const auto* cluster = data_.cluster()) topology["database_nodes"] = cluster->fault_nodes();
  topology["cache"] = cache_.redis() ? "redis" : "local";
  if (const child* redis = find("cache")) topology["redis"] = cache_.topology(redis->pid);
  const std::string tmp = o_.topology_path + ".tmp";
  std::error_code ignored;
  std::filesystem::remove(tmp, ignored);  // a new file: nobody holds an old one open
  std::ofstream out{tmp};
  // The admin token and the database's password: for the shop's user only (DIR may be enterable by
  // others, so that PostgreSQL's user reaches its data).
  std::filesystem::permissions(tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                               ignored);
  out << json::serialize(topology) << '\n';
  out.close();
  if (!out) throw std::runtime_error("cannot write " + o_.topology_path);
  std::filesystem::rename(tmp, o_.topology_path);  // readers never see half a file
}

int supervisor::run(const sigset_t& signals) {
  std::map<std::string, steady::time_point> respawn_due;  // nodes to bring back (--respawn-ms): name -> when
  std::optional<steady::time_point> haproxy_due;
  int haproxy_failures = 0;  // failed restarts in a row
  auto roles_checked = steady::now();
  while (true) {
    siginfo_t info{};
    timespec tick{0, 100'000'000};
    const int sig = ::sigtimedwait(&signals, &info, &tick);
    if (sig == SIGINT || sig == SIGTERM) return 0;
    if (sig == SIGCHLD) reap();
    // --ha patroni: the topology follows failovers (roles, new postmaster pids), checked every 2 s.
    if (data_.cluster() != nullptr && steady::now() - roles_checked >= std::chrono::seconds{2}) {
      roles_checked = steady::now();
      if (data_.refresh_cluster()) write_topology();
      if (child* db = find("haproxy_db"); db != nullptr && !db->alive) {
        std::fprintf(stderr, "stampede shop: restarting the database haproxy\n");
        db->pid = spawn(o_.haproxy_bin, {"haproxy", "-db", "-f", (std::filesystem::path{o_.data} / "haproxy-db.cfg").string()}, -1, {});
        db->alive = true;
        write_topology();
      }
    }
    // HAProxy is the only entry point: without it the shop is down, so bring it back (same config and
    // ports) after a short back-off, or stop with an error if it cannot be started again.
    if (!find("haproxy")->alive && !haproxy_due) {
      const auto delay = std::chrono::milliseconds{100 << std::min(haproxy_failures, 5)};
      std::fprintf(stderr, "stampede shop: restarting haproxy in %lld ms\n", static_cast<long long>(delay.count()));
      haproxy_due = steady::now() + delay;
    }
    if (haproxy_due && steady::now() >= *haproxy_due) {
      haproxy_due.reset();
      if (restart_haproxy()) {
        haproxy_failures = 0;
        std::fprintf(stderr, "stampede shop: haproxy restarted (pid %d)\n", find("haproxy")->pid);
        write_topology();
      } else if (++haproxy_failures >= haproxy_max_failed_starts) {
        std::fprintf(stderr, "stampede shop: haproxy could not be restarted (%d tries); stopping the shop\n",
                     haproxy_failures);
        return 1;
      }
    }
    respawn_cache();
    if (o_.respawn_ms < 0) continue;
    for (const auto& c : children_) {
      if (c.role == "node" && !c.alive && !respawn_due.contains(c.name)) {
        respawn_due[c.name] = steady::now() + std::chrono::milliseconds{o_.respawn_ms};
      }
    }
    for (auto it = respawn_due.begin(); it != respawn_due.end();) {
      if (steady::now() < it->second) {
        ++it;
        continue;
      }
      for (auto& c : children_) {
        if (c.name == it->first && !c.alive) respawn_node(c);
      }
      it = respawn_due.erase(it);
    }
  }
}

}  // namespace

int supervisor_command(std::span<char* const> args) {
  std::optional<arg_list> parsed;
  std::optional<shop_options> options;
  try {
    parsed.emplace(args.subspan(1),
                   std::set<std::string, std::less<>>{
                       "nodes", "threads", "lb", "data", "scale", "port", "topology", "kdf", "weights", "workers",
                       "lease-ms", "max-attempts", "rate-limit-client", "rate-limit-global", "flash-max-inflight",
                       "payment-latency-median-ms", "payment-latency-p99-ms", "payment-failure-rate",
                       "payment-decline-rate", "payment-lose-rate", "haproxy", "node-ports", "payment-port",
                       "node-via", "payment-via", "respawn-ms", "kdf-workers", "kdf-queue", "kdf-max-wait-ms", "login-rate-source",
                       "login-failures-account", "inject-bug", "server-maxconn", "queue-timeout-ms",
                       "edge-conn-limit", "edge-conn-rate", "edge-request-timeout-ms", "db", "db-pool",
                       "pg-bin", "ha", "replicas", "sync-replication", "cache", "redis-bin",
                       "redis-maxmemory-mb", "redis-respawn-ms", "cache-ttl-ms", "cache-db-loads",
                       "cache-lock-wait-ms", "redis-timeout-ms", "replica-reads", "replica-pin-ms", "pg-ports",
                       "replication-via"},
                   std::set<std::string, std::less<>>{"help"});
    if (parsed->has("help")) {
      std::fputs(usage, stdout);
      return 0;
    }
    if (!parsed->positional().empty() && parsed->positional()[0] == "seed") return seed_command(*parsed);
    if (!parsed->positional().empty()) throw std::invalid_argument("unknown argument " + parsed->positional()[0]);
    options = parse_shop_options(*parsed);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "stampede shop: %s\n%s", e.what(), usage);
    return exit_usage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede shop: %s\n", e.what());
    return 1;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);

  try {
    supervisor sup{*parsed, std::move(*options)};
    try {
      sup.start();
      const int code = sup.run(signals);
      if (code == 0) std::fprintf(stderr, "stampede shop: stopping\n");
      sup.shutdown();
      return code;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "stampede shop: %s\n", e.what());
      sup.shutdown();
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede shop: %s\n", e.what());
    return 1;
  }
}

}  // namespace stampede::shop
