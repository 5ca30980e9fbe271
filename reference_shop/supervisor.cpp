// `stampede shop`: the command (options, signals, exit code) and the supervisor's watch loop. The
// supervisor's parts: supervisor_internal.h.
#include "reference_shop/supervisor.h"

#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <optional>
#include <stdexcept>

#include "reference_shop/options.h"
#include "reference_shop/shop_options.h"
#include "reference_shop/supervisor_internal.h"

namespace stampede::shop {

namespace supervision {

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
    // A Patroni member, its postmaster (re-parented to us, the subreaper) or etcd; --shards: any shard's.
    for (auto* cluster : data_.clusters()) {
      if (!cluster->owns(pid)) continue;
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

int supervisor::run(const sigset_t& signals) {
  roles_checked_ = steady::now();
  while (true) {
    siginfo_t info{};
    timespec tick{0, 100'000'000};
    const int sig = ::sigtimedwait(&signals, &info, &tick);
    if (sig == SIGINT || sig == SIGTERM) return 0;
    if (sig == SIGCHLD) reap();
    watch_database();
    if (!watch_haproxy()) return 1;
    watch_observability();
    respawn_cache();
    serve_restart_requests();
    watch_respawns();
    if (o_.respawn_ms >= 0) respawn_nodes();
    if (elastic_) elastic_->step();
  }
}

// --ha patroni: the topology follows failovers (roles, new postmaster pids), checked every 2 s.
void supervisor::watch_database() {
  if (data_.cluster() == nullptr || steady::now() - roles_checked_ < std::chrono::seconds{2}) return;
  roles_checked_ = steady::now();
  if (data_.refresh_cluster()) write_topology();
  if (child* db = find("haproxy_db"); db != nullptr && !db->alive) {
    std::fprintf(stderr, "stampede shop: restarting the database haproxy\n");
    db->pid = spawn(o_.haproxy_bin, {"haproxy", "-db", "-f", db_haproxy_config_path()}, -1, {});
    db->alive = true;
    write_topology();
  }
}

// HAProxy is the only entry point: without it the shop is down, so bring it back (same config and
// ports) after a short back-off, or stop with an error if it cannot be started again.
bool supervisor::watch_haproxy() {
  if (!find("haproxy")->alive && !haproxy_due_) {
    const auto delay = std::chrono::milliseconds{100 << std::min(haproxy_failures_, 5)};
    std::fprintf(stderr, "stampede shop: restarting haproxy in %lld ms\n",
                 static_cast<long long>(delay.count()));
    haproxy_due_ = steady::now() + delay;
  }
  if (!haproxy_due_ || steady::now() < *haproxy_due_) return true;
  haproxy_due_.reset();
  if (restart_haproxy()) {
    haproxy_failures_ = 0;
    std::fprintf(stderr, "stampede shop: haproxy restarted (pid %d)\n", find("haproxy")->pid);
    write_topology();
  } else if (++haproxy_failures_ >= haproxy_max_failed_starts) {
    std::fprintf(stderr, "stampede shop: haproxy could not be restarted (%d tries); stopping the shop\n",
                 haproxy_failures_);
    return false;
  }
  return true;
}

// --respawn-ms: a node that died is started again, on its port, once its delay has passed.
void supervisor::respawn_nodes() {
  for (const auto& c : children_) {
    if (c.role == "node" && !c.alive && !respawn_due_.contains(c.name)) {
      respawn_due_[c.name] = steady::now() + std::chrono::milliseconds{o_.respawn_ms};
    }
  }
  for (auto it = respawn_due_.begin(); it != respawn_due_.end();) {
    if (steady::now() < it->second) {
      ++it;
      continue;
    }
    for (auto& c : children_) {
      if (c.name == it->first && !c.alive) respawn_node(c);
    }
    it = respawn_due_.erase(it);
  }
}

}  // namespace supervision

namespace {

// The command line read into options; an exit code when the command ends here (--help, `shop seed`, a
// bad flag: 2, an environment error: 1).
std::optional<int> read_command_line(std::span<char* const> args, std::optional<arg_list>& parsed,
                                     std::optional<shop_options>& options) {
  try {
    parsed.emplace(cli::parse(shop_spec(), args));
    if (parsed->help()) {
      std::fputs(cli::help_text(shop_spec()).c_str(), stdout);
      return cli::exit_ok;
    }
    if (!parsed->positional().empty() && parsed->positional()[0] == "seed") return seed_command(*parsed);
    if (!parsed->positional().empty())
      throw std::invalid_argument("unknown argument " + parsed->positional()[0]);
    options = parse_shop_options(*parsed);
  } catch (const std::invalid_argument& e) {  // cli::usage_error, and the options' checks
    return cli::usage_failure(shop_spec(), e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede shop: %s\n", e.what());
    return 1;
  }
  return std::nullopt;
}

}  // namespace

int supervisor_command(std::span<char* const> args) {
  std::optional<arg_list> parsed;
  std::optional<shop_options> options;
  if (auto code = read_command_line(args, parsed, options)) return *code;

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);

  try {
    supervision::supervisor sup{*parsed, std::move(*options)};
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
