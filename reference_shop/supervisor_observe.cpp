// `stampede shop --observe`: the webhook receiver (in this process), Alertmanager and Prometheus, started
// after HAProxy (every scrape target exists and keeps its port for the shop's life) and stopped first, so
// that stopping the shop raises no alert. Both are children like the others: reaped by run(), reported
// when they die, stopped with SIGINT (their graceful shutdown), SIGKILLed after 10 s.
#include <cstdio>

#include "reference_shop/supervisor_internal.h"

namespace stampede::shop::supervision {

void supervisor::check_observability() {
  if (!o_.observe) return;
  observe_.emplace(o_.observability, std::filesystem::path{o_.data} / "observe");
  observe_->check_binaries();
}

void supervisor::start_observability() {
  if (!observe_) return;
  std::filesystem::create_directories(observe_->dir());

  webhook_ = std::make_unique<alert_webhook>(observe_->dir() / "alerts.jsonl");
  webhook_->start();

  std::vector<scrape_target> targets{{"haproxy", "127.0.0.1:" + std::to_string(hc_.stats_port), {}}};
  for (const auto& c : children_) {
    // The node itself, not its --node-via proxy: a cut link shows in HAProxy's checks, not as a dead node.
    if (c.role == "node")
      targets.push_back({"shop_node", "127.0.0.1:" + std::to_string(c.port), {{"node", c.name}}});
  }
  auto running = [this](std::string_view role) {
    return [this, role] {
      reap();
      const child* c = find(role);
      return c != nullptr && c->alive;
    };
  };
  const pid_t alertmanager = observe_->launch_alertmanager(webhook_->url());
  children_.push_back(
      child{"alertmanager", "alertmanager", alertmanager, observe_->alertmanager_port(), true});
  const pid_t prometheus = observe_->launch_prometheus(targets);
  children_.push_back(child{"prometheus", "prometheus", prometheus, observe_->prometheus_port(), true});
  observe_->wait_ready("alertmanager", observe_->alertmanager_port(), running("alertmanager"));
  observe_->wait_ready("prometheus", observe_->prometheus_port(), running("prometheus"));
  std::fprintf(stderr,
               "stampede shop: prometheus on http://127.0.0.1:%u (pid %d, %s rules), alertmanager on "
               "http://127.0.0.1:%u (pid %d), alerts to %s\n",
               observe_->prometheus_port(), prometheus, observe_->rules().c_str(),
               observe_->alertmanager_port(), alertmanager, webhook_->log().c_str());
}

boost::json::object supervisor::observability_topology() const {
  boost::json::object prometheus, alertmanager;
  for (const auto& c : children_) {
    const std::string url = "http://127.0.0.1:" + std::to_string(c.port);
    if (c.role == "prometheus") {
      prometheus = {{"pid", c.pid},
                    {"url", url},
                    {"config", observe_->prometheus_config().string()},
                    {"rule_file", observe_->rule_file().string()}};
    } else if (c.role == "alertmanager") {
      alertmanager = {{"pid", c.pid}, {"url", url}, {"config", observe_->alertmanager_config().string()}};
    }
  }
  return {{"rules", observe_->rules()},
          {"prometheus", std::move(prometheus)},
          {"alertmanager", std::move(alertmanager)},
          {"alert_webhook", {{"url", webhook_->url()}, {"log", webhook_->log().string()}}}};
}

}  // namespace stampede::shop::supervision
