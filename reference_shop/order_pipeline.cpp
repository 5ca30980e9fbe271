#include "reference_shop/order_pipeline.h"

#include <boost/json.hpp>

#include <algorithm>
#include <random>

#include "common/http_client.h"

namespace stampede::shop {

namespace json = boost::json;

int64_t unix_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

order_pipeline::order_pipeline(store& db, std::string owner, pipeline_options options)
    : db_(db), owner_(std::move(owner)), options_(std::move(options)) {}

order_pipeline::~order_pipeline() { stop(); }

void order_pipeline::start() {
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this, i] { run(i); });
}

void order_pipeline::stop() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void order_pipeline::notify() {
  {
    std::lock_guard lock{mutex_};
    ++wakeups_;
  }
  wake_.notify_one();
}

pipeline_stats order_pipeline::stats() const {
  return {captured_, declined_, retries_, dead_lettered_, refunds_, lease_lost_};
}

void order_pipeline::run(int index) {
  const std::string owner = owner_ + "/w" + std::to_string(index);
  http::blocking_client client{options_.payment_host, options_.payment_port, options_.payment_timeout};
  while (true) {
    uint64_t seen = 0;
    {
      std::lock_guard lock{mutex_};
      if (stopping_) return;
      seen = wakeups_;
    }
    std::vector<outbox_message> batch;
    try {
      batch = db_.claim_outbox(owner, unix_millis(), options_.lease.count(), options_.batch);
    } catch (const std::exception&) {
      // Database busy beyond the retries: the messages stay due; try again after the poll interval.
    }
    for (const auto& message : batch) {
      try {
        process(message, owner, &client);
      } catch (const std::exception&) {
        // A store error while settling: the lease expires and the message is redelivered.
      }
    }
    if (batch.empty()) {
      std::unique_lock lock{mutex_};
      wake_.wait_for(lock, options_.poll_interval, [&] { return stopping_ || wakeups_ != seen; });
    }
  }
}

void order_pipeline::process(const outbox_message& message, const std::string& owner, void* client_ptr) {
  auto& client = *static_cast<http::blocking_client*>(client_ptr);
  const std::string body =
      json::serialize(json::object{{"order_id", message.order_id}, {"amount", message.amount}});
  std::string error;
  bool declined = false;
  try {
    // The key is the order's: every attempt, from any worker of any node, is the same capture to the gateway.
    const std::string key = "order-" + std::to_string(message.order_id) + "-capture";
    http::client_response response;
    if (options_.bug_double_capture) {
      client.post_json("/v1/captures", body);
      response = client.post_json("/v1/captures", body);
    } else {
      response = client.post_json("/v1/captures", body, {{"Idempotency-Key", key}});
    }
    if (response.status == 200 || response.status == 201) {
      std::string ref = "capture";
      boost::system::error_code ec;
      auto parsed = json::parse(response.body, ec);
      if (!ec && parsed.is_object()) {
        if (auto* id = parsed.as_object().if_contains("capture_id"); id != nullptr && id->is_string()) {
          ref = std::string{id->as_string()};
        }
      }
      if (db_.complete_payment(message, owner, ref, unix_millis())) {
        ++captured_;
      } else {
        ++lease_lost_;
      }
      return;
    }
    if (response.status == 402) {
      declined = true;
    } else {
      error = "payment gateway answered " + std::to_string(response.status);
    }
  } catch (const std::system_error& e) {
    client.close();  // the connection may hold a half-read response
    error = std::string{"payment call failed: "} + e.what();
  }
  const int64_t now = unix_millis();
  if (declined) {
    if (db_.fail_payment(message, owner, "payment declined", false, now)) {
      ++declined_;
    } else {
      ++lease_lost_;
    }
    return;
  }
  if (message.attempts >= options_.max_attempts) {
    // The charge may have happened with its response lost: refund by order id (idempotent) so that a
    // dead-lettered order never keeps the customer's money.
    try {
      auto r = client.post_json("/v1/refunds", json::serialize(json::object{{"order_id", message.order_id}}));
      boost::system::error_code ec;
      auto parsed = json::parse(r.body, ec);
      if (r.status == 200 && !ec && parsed.is_object()) {
        const auto& o = parsed.as_object();
        if (auto* refunded = o.if_contains("refunded"); refunded && refunded->is_bool() && refunded->as_bool()) {
          db_.record_refund(message.order_id, message.amount, "refund", now);
          ++refunds_;
        }
      }
    } catch (const std::system_error&) {
      client.close();
      error += "; refund call failed";
    }
    if (db_.fail_payment(message, owner, error, true, now)) {
      ++dead_lettered_;
    } else {
      ++lease_lost_;
    }
    return;
  }
  // Exponential backoff with full jitter in [d/2, d].
  thread_local std::minstd_rand rng{std::random_device{}()};
  const int64_t exp = options_.backoff_base.count() << std::min<int64_t>(message.attempts - 1, 20);
  const int64_t delay = std::min<int64_t>(exp, options_.backoff_cap.count());
  const int64_t jittered = delay / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(delay / 2 + 1));
  if (db_.retry_payment(message, owner, error, now + jittered)) {
    ++retries_;
  } else {
    ++lease_lost_;
  }
}

}  // namespace stampede::shop
