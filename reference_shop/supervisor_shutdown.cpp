// The shutdown path of `stampede shop`: every child stopped in order, none left behind.
#include <sys/wait.h>

#include <cstdio>

#include "reference_shop/supervisor_internal.h"

namespace stampede::shop::supervision {

// Prometheus and Alertmanager first (--observe), so that the shop's own stop raises no alert; then SIGINT
// to nodes and the emulator (stop now), SIGTERM to HAProxy; SIGKILL whatever is left after 10 s.
// SIGCONT after the stop signal: a child paused by a drill (SIGSTOP) that died before healing it would
// otherwise keep its stop signal pending until the 10 s SIGKILL. The database goes last (SIGINT is
// PostgreSQL's fast shutdown), once no node can be in the middle of a transaction.
void supervisor::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  stopping_ = true;
  for (const auto& [name, pending] : respawning_) ::close(pending.fd);
  respawning_.clear();
  stop_children([](const child& c) {
    return c.role == "prometheus" || c.role == "alertmanager" || c.role == "exporter";
  });
  if (webhook_) webhook_->stop();
  // --autoscale: a node still starting serves nothing yet and may not handle SIGINT yet (or be paused).
  for (const auto& c : children_) {
    if (c.alive && c.role == "node_starting") ::kill(c.pid, SIGKILL);
  }
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

}  // namespace stampede::shop::supervision
