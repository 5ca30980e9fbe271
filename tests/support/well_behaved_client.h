// A well-behaved client for the hostile-peer tests: GETs its targets in turn, in a loop on its own thread,
// on one keep-alive connection (reconnecting after an error), and records what a bystander sees while a
// hostile peer attacks the same server: successes, failures (target and reason) and latencies.
// Thread-safety: the accessors are for the owning thread after stop().
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "common/http_client.h"

namespace stampede::testing {

class well_behaved_client {
 public:
  well_behaved_client(uint16_t port, std::vector<std::string> targets)
      : port_(port), targets_(std::move(targets)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~well_behaved_client() { stop(); }
  well_behaved_client(const well_behaved_client&) = delete;
  well_behaved_client& operator=(const well_behaved_client&) = delete;

  // Stops after at least `min_requests` successful requests (bounded by 20 s).
  void stop(size_t min_requests = 0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
    while (done_.load() < min_requests && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  size_t succeeded() const { return done_.load(); }
  const std::vector<std::string>& failures() const { return failures_; }
  double max_ms() const { return latencies_.empty() ? 0 : *std::max_element(latencies_.begin(), latencies_.end()); }
  double p50_ms() const {
    if (latencies_.empty()) return 0;
    std::vector<double> sorted = latencies_;
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    return sorted[sorted.size() / 2];
  }

 private:
  void loop() {
    http::blocking_client client("127.0.0.1", port_, std::chrono::seconds{5});
    for (size_t i = 0; !stop_; ++i) {
      const std::string& target = targets_[i % targets_.size()];
      const auto start = std::chrono::steady_clock::now();
      try {
        const auto r = client.get(target);
        if (r.status == 200) {
          ++done_;
        } else {
          failures_.push_back(target + " -> " + std::to_string(r.status));
        }
      } catch (const std::exception& e) {
        failures_.push_back(target + " -> " + e.what());
        client.close();
      }
      latencies_.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
  }

  uint16_t port_;
  std::vector<std::string> targets_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> done_{0};
  std::vector<std::string> failures_;
  std::vector<double> latencies_;
  std::thread thread_;
};

}  // namespace stampede::testing
