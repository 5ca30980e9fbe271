// Token-bucket rate limiting: one global bucket and one bucket per client key (the client's address, or
// the X-Forwarded-For address HAProxy adds). Off unless configured, so capacity runs measure the shop.
// Thread-safety: try_acquire is thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace stampede::shop {

struct bucket_spec {
  double rate = 0;   // tokens per second; 0 = unlimited
  double burst = 0;  // bucket size
  bool enabled() const noexcept { return rate > 0; }
};

// "RATE" or "RATE:BURST" (burst defaults to the rate), e.g. "100:200". nullopt if malformed.
std::optional<bucket_spec> parse_bucket_spec(std::string_view text);

class token_bucket {
 public:
  explicit token_bucket(bucket_spec spec, double now_seconds) : spec_(spec), tokens_(spec.burst), last_(now_seconds) {}
  // Takes one token; otherwise returns the seconds until one is available.
  std::optional<double> take(double now_seconds);
  // Returns a token taken by mistake (up to the burst).
  void give_back() noexcept { tokens_ = std::min(spec_.burst, tokens_ + 1.0); }

 private:
  bucket_spec spec_;
  double tokens_;
  double last_;
};

struct rate_decision {
  bool allowed = true;
  int retry_after_seconds = 0;  // for the Retry-After header when refused (at least 1)
  bool global = false;          // refused by the global bucket
};

class rate_limiter {
 public:
  rate_limiter(bucket_spec per_client, bucket_spec global);
  bool enabled() const noexcept { return per_client_.enabled() || global_spec_.enabled(); }
  // now_seconds: any monotonic clock in seconds (injectable for tests).
  rate_decision try_acquire(std::string_view client, double now_seconds);
  // Gives the client's token back (e.g. a login attempt that succeeded, when only failures should count).
  void refund(std::string_view client);

 private:
  bucket_spec per_client_;
  bucket_spec global_spec_;
  std::mutex mutex_;
  std::optional<token_bucket> global_;
  std::unordered_map<std::string, token_bucket> clients_;
};

double monotonic_seconds();

}  // namespace stampede::shop
