// Subcommands of the reference shop. `shop-node` and `payment-emulator` block SIGINT/SIGTERM in every
// thread and wait for them in main (sigwait), so shutdown runs in normal code, never in a signal handler.
#include "reference_shop/cli.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/host_port.h"
#include "common/limits.h"
#include "reference_shop/node.h"
#include "reference_shop/options.h"
#include "reference_shop/payment_emulator.h"
#include "reference_shop/supervisor.h"
#include "reference_shop/two_phase.h"

namespace stampede::shop {

namespace {

// Raises RLIMIT_NOFILE (inherited by the nodes, HAProxy and the emulator) and warns when a node could not
// hold its server's 10,000 connections: beyond the limit, accepts back off and clients wait (hardening).
void raise_fd_limit_or_warn(const char* who) {
  const std::string problem = check_fd_limit(10'000, std::string(who) + ": 10000 connections per node");
  if (!problem.empty()) std::fprintf(stderr, "warning: %s\n", problem.c_str());
}

sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void report_ready(int fd, uint16_t port) {
  if (fd < 0) return;
  const std::string line = std::to_string(port) + "\n";
  [[maybe_unused]] auto written = ::write(fd, line.data(), line.size());
  ::close(fd);
}

// --cache local|redis and the Redis cache's knobs. Throws std::invalid_argument naming the flag.
void parse_cache_flags(const arg_list& a, node_options& o) {
  o.cache_kind = a.get("cache", "local");
  if (o.cache_kind != "local" && o.cache_kind != "redis") throw std::invalid_argument("--cache must be local or redis");
  auto& r = o.redis_cache;
  if (o.cache_kind == "redis") {
    if (!a.has("redis")) throw std::invalid_argument("--cache redis needs --redis HOST:PORT");
    auto hp = parse_host_port(a.get("redis"), "--redis");  // throws std::invalid_argument
    r.redis.host = std::move(hp.host);
    r.redis.port = hp.port;
    if (const char* password = std::getenv("STAMPEDE_REDIS_PASSWORD")) r.redis.password = password;
  } else if (a.has("redis")) {
    throw std::invalid_argument("--redis needs --cache redis");
  }
  r.redis.command_timeout = std::chrono::milliseconds{a.get_int("redis-timeout-ms", 100, 1, 60'000)};
  r.redis.connect_timeout = std::chrono::milliseconds{a.get_int("redis-connect-timeout-ms", 200, 1, 60'000)};
  r.redis.pool_wait = r.redis.command_timeout;
  r.redis.pool_size = static_cast<int>(a.get_int("redis-pool", 8, 1, 1024));
  r.max_db_loads = static_cast<int>(a.get_int("cache-db-loads", 4, 1, 10'000));
  r.lock_wait = std::chrono::milliseconds{a.get_int("cache-lock-wait-ms", 250, 0, 60'000)};
}

// "a,b,c" -> {a, b, c} (PostgreSQL URLs have no commas).
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  for (size_t start = 0; start <= text.size();) {
    const size_t comma = std::min(text.find(',', start), text.size());
    out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace

int shop_node_command(std::span<char* const> args) {
  node_options o;
  int ready_fd = -1;
  int64_t drain_ms = 1500;
  try {
    const arg_list a = cli::parse(node_spec(), args);
    if (a.help()) {
      std::fputs(cli::help_text(node_spec()).c_str(), stdout);
      return cli::exit_ok;
    }
    if (!a.positional().empty()) throw cli::usage_error("unexpected argument '" + a.positional()[0] + "'");
    o.db_path = a.get("db");
    o.db_url = a.get("db-url");
    o.replica_reads = parse_node_replica_flags(a, o.db_url);
    if (o.db_path.empty() == o.db_url.empty()) throw std::invalid_argument("give --db FILE or --db-url URL");
    o.db_pool = static_cast<int>(a.get_int("db-pool", o.db_pool, 1, 1000));
    if (a.has("db-shards")) {
      o.db_shards = split_list(a.get("db-shards"));
      if (o.db_shards.size() < 2) throw std::invalid_argument("--db-shards needs at least 2 URLs");
    }
    o.txn = a.get("txn", "2pc");
    two_phase::parse_protocol(o.txn);
    o.txn_lease = std::chrono::milliseconds{a.get_int("txn-lease-ms", 10'000, 1, 3'600'000)};
    o.txn_fault = a.get("txn-fault");
    if (!o.txn_fault.empty()) two_phase::parse_fault(o.txn_fault);
    o.txn_hold = std::chrono::milliseconds{a.get_int("txn-hold-ms", 0, 0, 60'000)};
    o.shard_max_inflight = static_cast<int>(a.get_int("shard-max-inflight", 0, 1, 1000));
    o.shard_breaker_failures = static_cast<int>(a.get_int("shard-breaker-failures", 1, 0, 1000));
    o.shard_breaker_open = std::chrono::milliseconds{a.get_int("shard-breaker-open-ms", 1000, 10, 600'000)};
    o.shard_read_timeout = std::chrono::milliseconds{a.get_int("shard-read-timeout-ms", 500, 10, 600'000)};
    o.name = a.get("name", "node1");
    o.address = a.get("address", "127.0.0.1");
    o.port = static_cast<uint16_t>(a.get_int("port", 0, 0, 65535));
    o.threads = static_cast<int>(a.get_int("threads", 2, 1, 256));
    auto kdf = parse_kdf_cost(a.get("kdf", "interactive"));
    if (!kdf) throw std::invalid_argument("--kdf must be interactive, moderate or minimal");
    o.kdf = *kdf;
    o.seed_scale = a.get_int("seed-scale", 0, 0, 1000);
    o.cache_enabled = !a.has("no-cache");
    o.cache.ttl = std::chrono::milliseconds{a.get_int("cache-ttl-ms", 30'000, 1, 86'400'000)};
    parse_cache_flags(a, o);
    for (auto [flag, target] : {std::pair{"rate-limit-client", &o.rate_per_client}, std::pair{"rate-limit-global", &o.rate_global}}) {
      if (!a.has(flag)) continue;
      auto spec = parse_bucket_spec(a.get(flag));
      if (!spec) throw std::invalid_argument(std::string{"--"} + flag + " must be RATE or RATE:BURST");
      *target = *spec;
    }
    for (auto [flag, target] : {std::pair{"login-rate-source", &o.login_per_source},
                                std::pair{"login-failures-account", &o.login_failures_per_account}}) {
      if (!a.has(flag)) continue;
      if (a.get(flag) == "off") {
        *target = bucket_spec{};
        continue;
      }
      auto spec = parse_bucket_spec(a.get(flag));
      if (!spec) throw std::invalid_argument(std::string{"--"} + flag + " must be RATE, RATE:BURST or off");
      *target = *spec;
    }
    o.kdf_workers = static_cast<int>(a.get_int("kdf-workers", o.kdf_workers, 1, 256));
    o.kdf_queue = static_cast<int>(a.get_int("kdf-queue", o.kdf_queue, 0, 100'000));
    o.kdf_max_wait = std::chrono::milliseconds{a.get_int("kdf-max-wait-ms", o.kdf_max_wait.count(), 0, 600'000)};
    o.flash_max_inflight = static_cast<int>(a.get_int("flash-max-inflight", 0, 0, 1'000'000));
    o.flash_batch = static_cast<int>(a.get_int("flash-batch", o.flash_batch, 1, 4096));
    if (a.has("payment")) {
      auto payment = parse_host_port(a.get("payment"), "--payment");  // throws std::invalid_argument
      o.pipeline_enabled = true;
      o.pipeline.payment_host = std::move(payment.host);
      o.pipeline.payment_port = payment.port;
    }
    o.pipeline.workers = static_cast<int>(a.get_int("workers", 2, 1, 64));
    o.pipeline.lease = std::chrono::milliseconds{a.get_int("lease-ms", 5000, 100, 3'600'000)};
    o.pipeline.payment_timeout = std::chrono::milliseconds{a.get_int("payment-timeout-ms", 1000, 10, 600'000)};
    o.pipeline.max_attempts = static_cast<int>(a.get_int("max-attempts", 5, 1, 100));
    drain_ms = a.get_int("drain-ms", 1500, 0, 600'000);
    if (a.has("inject-bug")) {
      if (a.get("inject-bug") != "double-capture") {
        throw std::invalid_argument("--inject-bug: unknown bug '" + a.get("inject-bug") + "' (known: double-capture)");
      }
      o.pipeline.bug_double_capture = true;
    }
    ready_fd = static_cast<int>(a.get_int("ready-fd", -1, -1, 1'000'000));
    if (const char* token = std::getenv("STAMPEDE_SHOP_ADMIN_TOKEN")) o.admin_token = token;
  } catch (const std::invalid_argument& e) {
    return cli::usage_failure(node_spec(), e.what());
  }
  raise_fd_limit_or_warn("stampede shop-node");
  sigset_t signals = block_stop_signals();
  try {
    node n{o};
    n.start();
    report_ready(ready_fd, n.port());
    std::fprintf(stderr, "shop-node %s listening on http://%s:%u\n", o.name.c_str(), o.address.c_str(), n.port());
    if (o.pipeline.bug_double_capture) {
      std::fprintf(stderr, "shop-node %s: BROKEN ON PURPOSE (--inject-bug double-capture): every order is charged twice\n",
                   o.name.c_str());
    }
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGTERM && drain_ms > 0) {
      // Fail the health checks first so the load balancer stops sending before the socket closes.
      n.drain();
      std::this_thread::sleep_for(std::chrono::milliseconds{drain_ms});
    }
    n.stop();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede shop-node: %s\n", e.what());
    return 1;
  }
}

int payment_emulator_command(std::span<char* const> args) {
  emulator_options o;
  int ready_fd = -1;
  try {
    const arg_list a = cli::parse(emulator_spec(), args);
    if (a.help()) {
      std::fputs(cli::help_text(emulator_spec()).c_str(), stdout);
      return cli::exit_ok;
    }
    if (!a.positional().empty()) throw cli::usage_error("unexpected argument '" + a.positional()[0] + "'");
    o.address = a.get("address", "127.0.0.1");
    o.port = static_cast<uint16_t>(a.get_int("port", 0, 0, 65535));
    o.threads = static_cast<int>(a.get_int("threads", 2, 1, 64));
    o.seed = static_cast<uint64_t>(a.get_int("seed", 1, 0, INT64_MAX));
    auto& s = o.settings;
    s.latency_median_ms = a.get_double("latency-median-ms", s.latency_median_ms, 0, 60'000);
    s.latency_p99_ms = a.get_double("latency-p99-ms", s.latency_p99_ms, 0, 60'000);
    s.failure_rate = a.get_double("failure-rate", 0, 0, 1);
    s.decline_rate = a.get_double("decline-rate", 0, 0, 1);
    s.lose_response_rate = a.get_double("lose-response-rate", 0, 0, 1);
    s.lose_delay = std::chrono::milliseconds{a.get_int("lose-delay-ms", 3000, 0, 600'000)};
    ready_fd = static_cast<int>(a.get_int("ready-fd", -1, -1, 1'000'000));
  } catch (const std::invalid_argument& e) {
    return cli::usage_failure(emulator_spec(), e.what());
  }
  sigset_t signals = block_stop_signals();
  try {
    payment_emulator emulator{o};
    emulator.start();
    report_ready(ready_fd, emulator.port());
    std::fprintf(stderr, "payment-emulator listening on http://%s:%u\n", o.address.c_str(), emulator.port());
    int sig = 0;
    sigwait(&signals, &sig);
    emulator.stop();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede payment-emulator: %s\n", e.what());
    return 1;
  }
}

int shop_command(std::span<char* const> args) {
  raise_fd_limit_or_warn("stampede shop");
  return supervisor_command(args);
}

}  // namespace stampede::shop
