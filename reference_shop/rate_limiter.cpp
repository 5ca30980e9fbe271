#include "reference_shop/rate_limiter.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace stampede::shop {

namespace {

std::optional<double> parse_number(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || !(value > 0) || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

constexpr size_t max_clients = 100'000;  // beyond: forget idle (full) buckets, bounding memory

}  // namespace

std::optional<bucket_spec> parse_bucket_spec(std::string_view text) {
  const size_t colon = text.find(':');
  auto rate = parse_number(text.substr(0, colon));
  if (!rate) return std::nullopt;
  bucket_spec spec{*rate, *rate};
  if (colon != std::string_view::npos) {
    auto burst = parse_number(text.substr(colon + 1));
    if (!burst || *burst < 1) return std::nullopt;
    spec.burst = *burst;
  }
  spec.burst = std::max(spec.burst, 1.0);
  return spec;
}

std::optional<double> token_bucket::take(double now) {
  tokens_ = std::min(spec_.burst, tokens_ + std::max(0.0, now - last_) * spec_.rate);
  last_ = std::max(last_, now);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return std::nullopt;
  }
  return (1.0 - tokens_) / spec_.rate;
}

rate_limiter::rate_limiter(bucket_spec per_client, bucket_spec global) : per_client_(per_client), global_spec_(global) {}

rate_decision rate_limiter::try_acquire(std::string_view client, double now) {
  if (!enabled()) return {};
  std::lock_guard lock{mutex_};
  auto refuse = [](double wait, bool global) {
    return rate_decision{false, std::max(1, static_cast<int>(std::ceil(wait))), global};
  };
  if (per_client_.enabled()) {
    if (clients_.size() >= max_clients) clients_.clear();
    auto it = clients_.find(std::string{client});
    if (it == clients_.end()) it = clients_.emplace(std::string{client}, token_bucket{per_client_, now}).first;
    if (auto wait = it->second.take(now)) return refuse(*wait, false);
  }
  if (global_spec_.enabled()) {
    if (!global_) global_.emplace(global_spec_, now);
    if (auto wait = global_->take(now)) return refuse(*wait, true);
  }
  return {};
}

void rate_limiter::refund(std::string_view client) {
  std::lock_guard lock{mutex_};
  if (auto it = clients_.find(std::string{client}); it != clients_.end()) it->second.give_back();
}

double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace stampede::shop
