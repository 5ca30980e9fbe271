// Supervisor. Concurrency model: one thread; SIGINT, SIGTERM and SIGCHLD are blocked and taken with
// sigtimedwait, so child exits and stop requests are handled in order in normal code.
#include "reference_shop/supervisor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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
#include <tuple>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/http_client.h"
#include "common/loopback.h"
#include "reference_shop/options.h"
#include "reference_shop/passwords.h"
#include "reference_shop/seed.h"
#include "reference_shop/sqlite_store.h"

namespace stampede::shop {

namespace json = boost::json;

namespace {

constexpr int exit_usage = 2;

constexpr const char* usage =
    "usage: stampede shop [--nodes N] [--threads T] [--lb roundrobin|leastconn|source|uri|random|first]\n"
    "                     [--data DIR] [--scale S] [--port P] [--topology FILE] [--kdf interactive|minimal]\n"
    "                     [--weights W1,W2,...] [--workers N] [--lease-ms MS] [--max-attempts N]\n"
    "                     [--rate-limit-client R[:B]] [--rate-limit-global R[:B]] [--flash-max-inflight N]\n"
    "                     [--payment-latency-median-ms MS] [--payment-latency-p99-ms MS]\n"
    "                     [--payment-failure-rate R] [--payment-decline-rate R] [--payment-lose-rate R]\n"
    "                     [--haproxy PATH] [--node-ports P1,P2,...] [--payment-port P]\n"
    "                     [--node-via HOST:PORT,...] [--payment-via HOST:PORT] [--respawn-ms MS]\n"
    "       stampede shop seed [--scale S] [--data DIR] [--kdf ...]\n"
    "Starts N shop nodes behind HAProxy plus a payment emulator on 127.0.0.1, writes the topology JSON\n"
    "(default DIR/topology.json), prints the entry URL, and stops everything on Ctrl-C or SIGTERM.\n"
    "Links (for fault proxies, as `stampede drill` does): --node-ports/--payment-port fix the listening ports,\n"
    "--node-via makes HAProxy reach node i at the i-th address, --payment-via makes nodes call the payment\n"
    "emulator at that address; --respawn-ms restarts a node that died, on the same port, after MS.\n";

struct child {
  std::string role;  // node | payment_emulator | haproxy
  std::string name;
  pid_t pid = -1;
  uint16_t port = 0;
  bool alive = false;
};

std::string self_exe() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot resolve /proc/self/exe: " + ec.message());
  return path.string();
}

// fork + exec with the parent's death signal set and a clean signal mask. `ready_fd` >= 0: the child's
// end of a pipe, passed as fd 3. Returns the pid.
pid_t spawn(const std::string& program, const std::vector<std::string>& argv, int ready_fd,
            const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork: " + std::string{std::strerror(errno)});
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the supervisor died between fork and prctl
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (ready_fd >= 0) {
      if (ready_fd != 3) {
        ::dup2(ready_fd, 3);
        ::close(ready_fd);
      } else {
        ::fcntl(3, F_SETFD, 0);
      }
    }
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execv(program.c_str(), cargv.data());
    std::fprintf(stderr, "stampede shop: cannot exec %s: %s\n", program.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  return pid;
}

// Reads "PORT\n" from a child's ready pipe within the deadline.
uint16_t wait_ready(int fd, const std::string& what, std::chrono::milliseconds timeout) {
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (text.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error(what + " did not become ready in time");
    pollfd p{fd, POLLIN, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    char buffer[64];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) throw std::runtime_error(what + " exited before it was ready (see its messages above)");
    text.append(buffer, static_cast<size_t>(n));
  }
  const int port = std::atoi(text.c_str());
  if (port <= 0 || port > 65535) throw std::runtime_error(what + " reported a bad port");
  return static_cast<uint16_t>(port);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string{"killed by signal "} + std::to_string(WTERMSIG(status)) + " (" +
                                  strsignal(WTERMSIG(status)) + ")";
  return "stopped";
}

class supervisor {
 public:
  ~supervisor() { shutdown(); }

  // Reaps exited children and reports them; returns how many died.
  int reap() {
    int died = 0;
    while (true) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
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

  child& add(child c) {
    children_.push_back(std::move(c));
    return children_.back();
  }
  std::vector<child>& children() { return children_; }

  // SIGINT to nodes and the emulator (stop now), SIGTERM to HAProxy; SIGKILL whatever is left after 10 s.
  // SIGCONT after the stop signal: a child paused by a drill (SIGSTOP) that died before healing it would
  // otherwise keep its stop signal pending until the 10 s SIGKILL.
  void shutdown() {
    if (shut_down_) return;
    shut_down_ = true;
    stopping_ = true;
    for (auto& c : children_) {
      if (!c.alive) continue;
      ::kill(c.pid, c.role == "haproxy" ? SIGTERM : SIGINT);
      ::kill(c.pid, SIGCONT);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (any_alive() && std::chrono::steady_clock::now() < deadline) {
      sigset_t chld;
      sigemptyset(&chld);
      sigaddset(&chld, SIGCHLD);
      timespec ts{0, 50'000'000};
      ::sigtimedwait(&chld, nullptr, &ts);
      reap();
    }
    for (auto& c : children_) {
      if (c.alive) {
        std::fprintf(stderr, "stampede shop: %s %s did not stop, killing it\n", c.role.c_str(), c.name.c_str());
        ::kill(c.pid, SIGKILL);
        ::waitpid(c.pid, nullptr, 0);
        c.alive = false;
      }
    }
  }

 private:
  bool any_alive() const {
    for (const auto& c : children_) {
      if (c.alive) return true;
    }
    return false;
  }
  std::vector<child> children_;
  bool stopping_ = false;
  bool shut_down_ = false;
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

}  // namespace

bool valid_balance(std::string_view algorithm) {
  for (auto a : {"roundrobin", "leastconn", "source", "uri", "random", "first"}) {
    if (algorithm == a) return true;
  }
  return false;
}

std::string render_haproxy_config(const haproxy_config& c) {
  std::string out;
  auto line = [&](const std::string& s) {
    out += s;
    out += '\n';
  };
  line("# Generated by `stampede shop`; regenerated on every start.");
  line("global");
  line("  maxconn 8000");  // needs ~2 fds per connection; stays under a 20,000 fd limit
  line("  nbthread 2");
  line("  stats socket ipv4@127.0.0.1:" + std::to_string(c.runtime_port) + " level admin");
  line("");
  line("defaults");
  line("  mode http");
  line("  timeout connect 2s");
  line("  timeout client 30s");
  line("  timeout server 30s");
  line("  timeout http-keep-alive 30s");
  line("  timeout check 1s");
  // Retries only on connection failures (HAProxy's default retry-on), so a POST is never sent twice
  // after a server saw it; redispatch moves a retry to another server.
  line("  retries 2");
  line("  option redispatch 1");
  line("  option http-keep-alive");
  line("  option forwardfor");
  line("");
  line("frontend shop");
  line("  bind 127.0.0.1:" + std::to_string(c.frontend_port));
  line("  default_backend nodes");
  line("");
  line("frontend observability");
  line("  bind 127.0.0.1:" + std::to_string(c.stats_port));
  line("  http-request use-service prometheus-exporter if { path /metrics }");
  line("  stats enable");
  line("  stats uri /stats");
  line("  stats refresh 5s");
  line("");
  line("backend nodes");
  line("  balance " + c.balance);
  if (c.balance == "uri") line("  hash-type consistent");
  line("  option httpchk GET /readyz");
  line("  http-check expect status 200");
  // Fast detection for drills: down after 2 failed checks 250 ms apart, back after 2 good ones.
  line("  default-server inter 250ms fastinter 250ms downinter 500ms fall 2 rise 2");
  for (const auto& s : c.servers) {
    line("  server " + s.name + " " + s.host + ":" + std::to_string(s.port) + " check weight " + std::to_string(s.weight) +
         (c.balance == "first" ? " maxconn 64" : ""));
  }
  return out;
}

int supervisor_command(std::span<char* const> args) {
  std::optional<arg_list> parsed;
  try {
    parsed.emplace(args.subspan(1),
                   std::set<std::string, std::less<>>{
                       "nodes", "threads", "lb", "data", "scale", "port", "topology", "kdf", "weights", "workers",
                       "lease-ms", "max-attempts", "rate-limit-client", "rate-limit-global", "flash-max-inflight",
                       "payment-latency-median-ms", "payment-latency-p99-ms", "payment-failure-rate",
                       "payment-decline-rate", "payment-lose-rate", "haproxy", "node-ports", "payment-port",
                       "node-via", "payment-via", "respawn-ms"},
                   std::set<std::string, std::less<>>{"help"});
    if (parsed->has("help")) {
      std::fputs(usage, stdout);
      return 0;
    }
    if (!parsed->positional().empty() && parsed->positional()[0] == "seed") return seed_command(*parsed);
    if (!parsed->positional().empty()) throw std::invalid_argument("unknown argument " + parsed->positional()[0]);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "stampede shop: %s\n%s", e.what(), usage);
    return exit_usage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede shop: %s\n", e.what());
    return 1;
  }
  const arg_list& a = *parsed;
  int64_t nodes = 0, threads = 0, scale = 0, port = 0;
  std::string lb, data, topology_path, kdf_text, haproxy_bin;
  std::vector<int> weights;
  std::vector<uint16_t> node_ports;                            // empty: any
  std::vector<std::pair<std::string, uint16_t>> node_via;      // empty: HAProxy reaches the nodes directly
  std::optional<std::pair<std::string, uint16_t>> payment_via;
  int64_t payment_port = 0, respawn_ms = -1;
  try {
    nodes = a.get_int("nodes", 3, 1, 64);
    threads = a.get_int("threads", 2, 1, 256);
    scale = a.get_int("scale", 1, 1, 1000);
    port = a.get_int("port", 8080, 0, 65535);
    lb = a.get("lb", "roundrobin");
    if (!valid_balance(lb)) throw std::invalid_argument("--lb must be roundrobin, leastconn, source, uri, random or first");
    kdf_text = a.get("kdf", "interactive");
    if (!parse_kdf_cost(kdf_text)) throw std::invalid_argument("--kdf must be interactive, moderate or minimal");
    haproxy_bin = a.get("haproxy", "/usr/sbin/haproxy");
    if (a.has("weights")) {
      std::string w = a.get("weights");
      size_t start = 0;
      while (start <= w.size()) {
        const size_t comma = std::min(w.find(',', start), w.size());
        const int v = std::atoi(w.substr(start, comma - start).c_str());
        if (v < 0 || v > 256) throw std::invalid_argument("--weights are integers 0..256");
        weights.push_back(v);
        start = comma + 1;
      }
      if (static_cast<int64_t>(weights.size()) != nodes) throw std::invalid_argument("--weights needs one weight per node");
    }
    if (a.has("node-ports")) {
      for (const auto& p : split_commas(a.get("node-ports"))) {
        const int v = std::atoi(p.c_str());
        if (v <= 0 || v > 65535 || p.find_first_not_of("0123456789") != std::string::npos) {
          throw std::invalid_argument("--node-ports are ports 1..65535");
        }
        node_ports.push_back(static_cast<uint16_t>(v));
      }
      if (static_cast<int64_t>(node_ports.size()) != nodes) throw std::invalid_argument("--node-ports needs one port per node");
    }
    if (a.has("node-via")) {
      for (const auto& v : split_commas(a.get("node-via"))) node_via.push_back(parse_address(v, "node-via"));
      if (static_cast<int64_t>(node_via.size()) != nodes) throw std::invalid_argument("--node-via needs one address per node");
    }
    if (a.has("payment-via")) payment_via = parse_address(a.get("payment-via"), "payment-via");
    payment_port = a.get_int("payment-port", 0, 0, 65535);
    respawn_ms = a.get_int("respawn-ms", -1, 0, 600'000);
    data = a.get("data");
    if (data.empty()) {
      std::string pattern = (std::filesystem::temp_directory_path() / "stampede-shop-XXXXXX").string();
      if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create a data directory");
      data = pattern;
    }
    std::filesystem::create_directories(data);
    data = std::filesystem::absolute(data).string();
    topology_path = a.get("topology", (std::filesystem::path{data} / "topology.json").string());
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

  supervisor sup;
  try {
    const std::string db_path = (std::filesystem::path{data} / "shop.db").string();
    {
      // Seed once here, before any node starts, so nodes never race to seed.
      sqlite_store db{db_path};
      db.migrate();
      if (!db.seeded() || a.has("scale")) {
        std::fprintf(stderr, "stampede shop: seeding %s at scale %lld\n", db_path.c_str(), static_cast<long long>(scale));
        db.reseed(scale, hash_password(seed_password, *parse_kdf_cost(kdf_text)));
      }
    }
    const std::string exe = self_exe();
    const std::string admin_token = random_token();
    auto start_with_pipe = [&](child c, std::vector<std::string> argv,
                               std::vector<std::pair<std::string, std::string>> env) -> child& {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe: " + std::string{std::strerror(errno)});
      argv.push_back("--ready-fd");
      argv.push_back("3");
      try {
        c.pid = spawn(exe, argv, fds[1], env);
      } catch (...) {
        ::close(fds[0]);
        ::close(fds[1]);
        throw;
      }
      ::close(fds[1]);
      c.alive = true;
      child& added = sup.add(std::move(c));
      try {
        added.port = wait_ready(fds[0], added.role + " " + added.name, std::chrono::seconds{30});
      } catch (...) {
        ::close(fds[0]);
        throw;
      }
      ::close(fds[0]);
      return added;
    };

    std::vector<std::string> emulator_argv{"stampede", "payment-emulator", "--port", std::to_string(payment_port)};
    for (auto [flag, target] : {std::pair{"payment-latency-median-ms", "--latency-median-ms"},
                                std::pair{"payment-latency-p99-ms", "--latency-p99-ms"},
                                std::pair{"payment-failure-rate", "--failure-rate"},
                                std::pair{"payment-decline-rate", "--decline-rate"},
                                std::pair{"payment-lose-rate", "--lose-response-rate"}}) {
      if (a.has(flag)) {
        emulator_argv.push_back(target);
        emulator_argv.push_back(a.get(flag));
      }
    }
    child& emulator = start_with_pipe(child{"payment_emulator", "payment-emulator"}, emulator_argv, {});
    const uint16_t emulator_port = emulator.port;
    const pid_t emulator_pid = emulator.pid;

    const std::string payment_address = payment_via ? payment_via->first + ":" + std::to_string(payment_via->second)
                                                    : "127.0.0.1:" + std::to_string(emulator_port);
    // A node's command line; a respawned node gets the same one (and its first port, so links stay valid).
    auto node_argv = [&](int64_t i, uint16_t port) {
      std::vector<std::string> argv{"stampede", "shop-node", "--db", db_path, "--name", "node" + std::to_string(i),
                                    "--port", std::to_string(port), "--threads", std::to_string(threads), "--kdf",
                                    kdf_text, "--payment", payment_address};
      for (auto flag : {"workers", "lease-ms", "max-attempts", "rate-limit-client", "rate-limit-global",
                        "flash-max-inflight"}) {
        if (a.has(flag)) {
          argv.push_back(std::string{"--"} + flag);
          argv.push_back(a.get(flag));
        }
      }
      return argv;
    };
    for (int64_t i = 1; i <= nodes; ++i) {
      const uint16_t port = node_ports.empty() ? 0 : node_ports[static_cast<size_t>(i - 1)];
      start_with_pipe(child{"node", "node" + std::to_string(i)}, node_argv(i, port),
                      {{"STAMPEDE_SHOP_ADMIN_TOKEN", admin_token}});
    }

    haproxy_config hc;
    hc.balance = lb;
    hc.frontend_port = port == 0 ? free_loopback_port() : static_cast<uint16_t>(port);
    hc.stats_port = free_loopback_port();
    hc.runtime_port = free_loopback_port();
    for (auto& c : sup.children()) {
      if (c.role != "node") continue;
      haproxy_config::server server{c.name, "127.0.0.1", c.port, weights.empty() ? 100 : weights[hc.servers.size()]};
      if (!node_via.empty()) std::tie(server.host, server.port) = node_via[hc.servers.size()];
      hc.servers.push_back(std::move(server));
    }
    const std::string config_path = (std::filesystem::path{data} / "haproxy.cfg").string();
    {
      std::ofstream out{config_path};
      out << render_haproxy_config(hc);
      if (!out) throw std::runtime_error("cannot write " + config_path);
    }
    if (::access(haproxy_bin.c_str(), X_OK) != 0) {
      throw std::runtime_error(haproxy_bin + " not found: install Debian's haproxy package (or pass --haproxy PATH)");
    }
    child hp{"haproxy", "haproxy"};
    hp.pid = spawn(haproxy_bin, {"haproxy", "-db", "-f", config_path}, -1, {});
    hp.alive = true;
    hp.port = hc.frontend_port;
    const pid_t haproxy_pid = hp.pid;
    sup.add(std::move(hp));

    // Ready when HAProxy answers through to a node.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{15};
    while (!http_ok(hc.frontend_port, "/readyz")) {
      sup.reap();
      for (const auto& c : sup.children()) {
        if (c.role == "haproxy" && !c.alive) throw std::runtime_error("haproxy exited at start (port in use?)");
      }
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("haproxy did not become ready");
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }

    const std::string entry = "http://127.0.0.1:" + std::to_string(hc.frontend_port);
    auto write_topology = [&] {
    json::array node_list;
    for (const auto& c : sup.children()) {
      if (c.role != "node") continue;
      node_list.push_back(json::object{{"name", c.name}, {"pid", c.pid}, {"port", c.port},
                                       {"url", "http://127.0.0.1:" + std::to_string(c.port)}});
    }
    json::object topology{
        {"entry_url", entry},
        {"admin_token", admin_token},
        {"supervisor_pid", ::getpid()},
        {"data_dir", data},
        {"database", db_path},
        {"lb", lb},
        {"threads", threads},
        {"nodes", std::move(node_list)},
        {"haproxy",
         json::object{{"pid", haproxy_pid},
                      {"url", entry},
                      {"config", config_path},
                      {"metrics_url", "http://127.0.0.1:" + std::to_string(hc.stats_port) + "/metrics"},
                      {"stats_url", "http://127.0.0.1:" + std::to_string(hc.stats_port) + "/stats"},
                      {"runtime_api", "127.0.0.1:" + std::to_string(hc.runtime_port)}}},
        {"payment_emulator",
         json::object{{"pid", emulator_pid}, {"url", "http://127.0.0.1:" + std::to_string(emulator_port)}}},
    };
    {
      const std::string tmp = topology_path + ".tmp";
      std::ofstream out{tmp};
      out << json::serialize(topology) << '\n';
      out.close();
      if (!out) throw std::runtime_error("cannot write " + topology_path);
      std::filesystem::rename(tmp, topology_path);  // readers never see half a file
    }
    };
    write_topology();
    std::printf("%s\n", entry.c_str());
    std::fflush(stdout);
    std::fprintf(stderr, "stampede shop: %lld nodes behind haproxy (%s), topology in %s\n",
                 static_cast<long long>(nodes), lb.c_str(), topology_path.c_str());

    // Nodes to bring back (--respawn-ms): name -> when.
    std::map<std::string, std::chrono::steady_clock::time_point> respawn_due;
    while (true) {
      siginfo_t info{};
      timespec tick{0, 100'000'000};
      const int sig = respawn_ms >= 0 ? ::sigtimedwait(&signals, &info, &tick) : ::sigwaitinfo(&signals, &info);
      if (sig == SIGINT || sig == SIGTERM) break;
      if (sig == SIGCHLD) sup.reap();
      if (respawn_ms < 0) continue;
      for (const auto& c : sup.children()) {
        if (c.role == "node" && !c.alive && !respawn_due.contains(c.name)) {
          respawn_due[c.name] = std::chrono::steady_clock::now() + std::chrono::milliseconds{respawn_ms};
        }
      }
      for (auto it = respawn_due.begin(); it != respawn_due.end();) {
        if (std::chrono::steady_clock::now() < it->second) {
          ++it;
          continue;
        }
        for (auto& c : sup.children()) {
          if (c.name != it->first || c.alive) continue;
          const int64_t index = std::atoll(c.name.c_str() + 4);  // "nodeN"
          int fds[2];
          if (::pipe2(fds, O_CLOEXEC) != 0) break;
          auto argv = node_argv(index, c.port);
          argv.push_back("--ready-fd");
          argv.push_back("3");
          try {
            c.pid = spawn(exe, argv, fds[1], {{"STAMPEDE_SHOP_ADMIN_TOKEN", admin_token}});
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
        it = respawn_due.erase(it);
      }
    }
    std::fprintf(stderr, "stampede shop: stopping\n");
    sup.shutdown();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede shop: %s\n", e.what());
    sup.shutdown();
    return 1;
  }
}

}  // namespace stampede::shop
