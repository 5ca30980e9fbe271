// The coordinator's chaos timeline, apart from the run's phases in run.cpp: set_up_chaos() builds it
// before the load (the topology file, --proxy, the options' faults validated and queued in time order),
// drive_timeline() injects and heals faults as the load runs (called from load()'s loop, not per request).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "loadgen/run_coordinator.h"
#include "loadgen/url.h"

namespace stampede::loadgen::run_detail {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read '" + path + "'");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

void coordinator::set_up_chaos() {
  run_options& o = plan_.options;
  std::string topology_path = request_.topology_path.value_or(o.topology_path);
  std::string topology;
  if (!topology_path.empty()) topology = read_file(topology_path);
  try {
    chaos_ = std::make_unique<chaos_timeline>(plan_.seed, topology, request_.proxies, topology_path);
  } catch (const std::exception& e) {
    throw std::invalid_argument("topology '" + topology_path + "': " + e.what());
  }
  for (const auto& [name, upstream] : o.proxies) chaos_->add_proxy(name, upstream);
  if (request_.link_groups) chaos_->set_link_groups(request_.link_groups);
  if (request_.proxy) {
    std::string error;
    auto url = parse_url(o.target, nullptr, error);
    if (!url) throw std::invalid_argument("--proxy needs a target URL: " + error);
    const std::string listen = chaos_->add_proxy("target", url->host + ":" + std::to_string(url->port));
    o.target = std::string(url->tls ? "https://" : "http://") + listen;
  }
  for (size_t i = 0; i < o.chaos.size(); ++i) {
    try {
      chaos_->validate(o.chaos[i]);
    } catch (const std::exception& e) {
      throw std::invalid_argument("options.chaos[" + std::to_string(i + 1) + "]: " + e.what());
    }
    pending_faults_.push_back(i);
  }
  std::stable_sort(pending_faults_.begin(), pending_faults_.end(),
                   [&](size_t a, size_t b) { return *o.chaos[a].at < *o.chaos[b].at; });
  std::reverse(pending_faults_.begin(), pending_faults_.end());  // pop from the back
  plan_.chaos = chaos_.get();
}

void coordinator::drive_timeline() {
  if (!chaos_) return;
  const double now = elapsed_s();
  chaos_->observe(now);  // a killed node back (respawned): the heal of its fault in the recovery figures
  for (int id : chaos_->due_to_heal(now)) {
    chaos_->heal(id, now);
    if (!request_.quiet && live_output_)
      std::fprintf(stderr, "\r\033[Kchaos: fault %d healed at %.1fs\n", id, now);
  }
  while (!pending_faults_.empty()) {
    const fault_spec& f = plan_.options.chaos[pending_faults_.back()];
    if (std::chrono::duration<double>(*f.at).count() > now) break;
    pending_faults_.pop_back();
    try {
      const int id = chaos_->inject(f, now);
      if (!request_.quiet) {
        std::fprintf(stderr, "%schaos: %s (fault %d) at %.1fs\n", live_output_ ? "\r\033[K" : "",
                     (f.label.empty() ? f.fault + " " + f.target : f.label).c_str(), id, now);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "\nstampede: %s\n", e.what());
    }
  }
}

}  // namespace stampede::loadgen::run_detail
