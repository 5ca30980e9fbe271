#include "reference_shop/payment_emulator.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>

namespace stampede::shop {

namespace json = boost::json;

namespace {

std::optional<json::object> parse_object(const std::string& body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::optional<int64_t> get_int(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_int64()) return std::nullopt;
  return v->as_int64();
}

std::optional<double> get_number(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  boost::system::error_code ec;
  const double d = v->to_number<double>(ec);
  if (ec || !std::isfinite(d) || d < 0) return std::nullopt;
  return d;
}

}  // namespace

payment_emulator::payment_emulator(emulator_options options)
    : options_(std::move(options)), rng_(options_.seed) {}

payment_emulator::~payment_emulator() { stop(); }

void payment_emulator::start() {
  http::server_options so;
  so.address = options_.address;
  so.port = options_.port;
  so.threads = options_.threads;
  so.handler_timeout = std::chrono::milliseconds{60'000};
  server_ = std::make_unique<http::server>(
      so,
      http::async_handler{[this](http::request& r, http::responder reply) { handle(r, std::move(reply)); }});
  server_->start();
}

uint16_t payment_emulator::port() const { return server_ ? server_->port() : 0; }

void payment_emulator::stop() {
  if (server_) server_->stop();
}

void payment_emulator::wait() {
  if (server_) server_->wait();
}

std::chrono::milliseconds payment_emulator::latency() {
  // Log-normal with the given median and 99th percentile (z_0.99 = 2.326); caller holds mutex_.
  const auto& s = options_.settings;
  if (s.latency_median_ms <= 0) return std::chrono::milliseconds{0};
  const double mu = std::log(s.latency_median_ms);
  const double sigma =
      s.latency_p99_ms > s.latency_median_ms ? (std::log(s.latency_p99_ms) - mu) / 2.326 : 0.0;
  std::lognormal_distribution<double> dist{mu, sigma};
  return std::chrono::milliseconds{static_cast<int64_t>(std::min(dist(rng_), 60'000.0))};
}

http::response payment_emulator::settings_response() {
  const auto& s = options_.settings;
  return http::response::json(200, json::serialize(json::object{{"latency_median_ms", s.latency_median_ms},
                                                                {"latency_p99_ms", s.latency_p99_ms},
                                                                {"failure_rate", s.failure_rate},
                                                                {"decline_rate", s.decline_rate},
                                                                {"lose_response_rate", s.lose_response_rate},
                                                                {"lose_delay_ms", s.lose_delay.count()}}));
}

void payment_emulator::handle(http::request& request, http::responder reply) {
  const std::string_view path = request.path();
  std::unique_lock lock{mutex_};
  if (path == "/healthz") return reply(http::response::json(200, R"({"status":"ok"})"));
  if (path == "/metrics" && request.method == "GET") return reply(metrics_response());
  if (path == "/v1/settings") {
    if (request.method == "PUT") {
      auto body = parse_object(request.body);
      if (!body) return reply(http::response::error(400, "bad_request", "expected a JSON object"));
      auto& s = options_.settings;
      emulator_settings next = s;
      for (auto [key, target] :
           {std::pair{"latency_median_ms", &next.latency_median_ms},
            std::pair{"latency_p99_ms", &next.latency_p99_ms}, std::pair{"failure_rate", &next.failure_rate},
            std::pair{"decline_rate", &next.decline_rate},
            std::pair{"lose_response_rate", &next.lose_response_rate}}) {
        if (body->contains(key)) {
          auto v = get_number(*body, key);
          if (!v)
            return reply(
                http::response::error(400, "bad_request", std::string{key} + " must be a number >= 0"));
          *target = *v;
        }
      }
      if (body->contains("lose_delay_ms")) {
        auto v = get_int(*body, "lose_delay_ms");
        if (!v || *v < 0)
          return reply(http::response::error(400, "bad_request", "lose_delay_ms must be an integer >= 0"));
        next.lose_delay = std::chrono::milliseconds{*v};
      }
      if (next.failure_rate > 1 || next.decline_rate > 1 || next.lose_response_rate > 1) {
        return reply(http::response::error(400, "bad_request", "rates must be between 0 and 1"));
      }
      s = next;
    } else if (request.method != "GET") {
      return reply(http::response::error(405, "method_not_allowed", "GET or PUT"));
    }
    return reply(settings_response());
  }
  if (path == "/v1/captures" && request.method == "GET") return reply(captures_response());
  if (path == "/v1/captures" && request.method == "POST") return handle_capture(request, reply);
  if (path == "/v1/refunds" && request.method == "POST") return handle_refund(request, reply);
  return reply(http::response::error(404, "not_found", "no such endpoint"));
}

// Caller holds mutex_. Charges are idempotent by key (scoped to this gateway, as Stripe's): the same key with
// another order or amount is a client bug (422), never a silent second charge.
void payment_emulator::handle_capture(http::request& request, const http::responder& reply) {
  auto body = parse_object(request.body);
  std::optional<int64_t> order_id, amount;
  if (body) {
    order_id = get_int(*body, "order_id");
    amount = get_int(*body, "amount");
  }
  constexpr std::string_view route = "/v1/captures";
  const auto answer = [&](const char* result, std::chrono::milliseconds delay, http::response response) {
    ++capture_results_[result];
    send(reply, route, delay, std::move(response));
  };
  if (!order_id || !amount || *amount < 0) {
    return answer("rejected", {},
                  http::response::error(400, "bad_request", "expected {order_id, amount} integers"));
  }
  const std::string_view key = request.header("Idempotency-Key");
  if (key.size() > 255 || std::any_of(key.begin(), key.end(), [](char c) { return c < 0x21 || c > 0x7e; })) {
    return answer(
        "rejected", {},
        http::response::error(400, "bad_request", "Idempotency-Key: up to 255 visible ASCII characters"));
  }
  ++capture_calls_;
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  const auto delay = latency();
  const auto& s = options_.settings;
  if (unit(rng_) < s.failure_rate) {
    ++failures_;
    return answer("failed", delay, http::response::error(503, "unavailable", "injected gateway failure"));
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  if (!key.empty()) {
    if (auto it = by_key_.find(key); it != by_key_.end()) {
      const charge& c = charges_[it->second];
      if (c.order_id != *order_id || c.amount != *amount) {
        return answer("rejected", {},
                      http::response::error(422, "idempotency_key_reused",
                                            "this Idempotency-Key was used for another order or amount"));
      }
      // The retry of a capture gets the original charge back, never a second one.
      requests_.push_back({it->second, true, now_ms});
      return answer("replayed", delay,
                    http::response::json(200, json::serialize(json::object{{"capture_id", c.id},
                                                                           {"order_id", c.order_id},
                                                                           {"amount", c.amount},
                                                                           {"replayed", true}})));
    }
  }
  if (auto it = declined_.find(*order_id); it != declined_.end() || unit(rng_) < s.decline_rate) {
    ++declined_[*order_id];
    return answer("declined", delay, http::response::error(402, "declined", "card declined"));
  }
  const size_t index = charges_.size();
  charges_.push_back(charge{"cap_" + std::to_string(index + 1), *order_id, *amount, std::string{key}, false});
  requests_.push_back({index, false, now_ms});
  if (!key.empty()) by_key_.emplace(std::string{key}, index);
  by_order_[*order_id].push_back(index);
  if (unit(rng_) < s.lose_response_rate) {
    ++lost_;
    return answer("lost", s.lose_delay, http::response::error(504, "lost", "response lost after the charge"));
  }
  return answer("captured", delay,
                http::response::json(201, json::serialize(json::object{{"capture_id", charges_[index].id},
                                                                       {"order_id", *order_id},
                                                                       {"amount", *amount}})));
}

// Caller holds mutex_. Refunds every charge of the order (a dead-lettered order must not keep any of the
// customer's money), or only `capture_id` when given.
void payment_emulator::handle_refund(http::request& request, const http::responder& reply) {
  auto body = parse_object(request.body);
  std::optional<int64_t> order_id;
  if (body) order_id = get_int(*body, "order_id");
  constexpr std::string_view route = "/v1/refunds";
  if (!order_id) {
    ++refund_results_["rejected"];
    return send(reply, route, {}, http::response::error(400, "bad_request", "expected {order_id}"));
  }
  std::string only;
  if (const auto* v = body->if_contains("capture_id"); v != nullptr && v->is_string()) only = v->as_string();
  int64_t amount = 0;
  bool has = false, first_refund = false;
  if (auto it = by_order_.find(*order_id); it != by_order_.end()) {
    for (size_t index : it->second) {
      charge& c = charges_[index];
      if (!only.empty() && c.id != only) continue;
      has = true;
      amount += c.amount;
      if (!c.refunded) {
        c.refunded = true;
        first_refund = true;
        ++refunds_;
      }
    }
  }
  ++refund_results_[!has ? "no_charge" : first_refund ? "refunded" : "repeated"];
  return send(reply, route, {},
              http::response::json(200, json::serialize(json::object{{"order_id", *order_id},
                                                                     {"refunded", has},
                                                                     {"amount", amount},
                                                                     {"first_refund", first_refund}})));
}

// Caller holds mutex_.
http::response payment_emulator::captures_response() {
  json::array list;
  for (const auto& r : requests_) {
    const charge& c = charges_[r.charge];
    list.push_back(
        json::object{{"capture_id", c.id},
                     {"order_id", c.order_id},
                     {"amount", c.amount},
                     {"idempotency_key",
                      c.idempotency_key.empty() ? json::value(nullptr) : json::value(c.idempotency_key)},
                     {"replayed", r.replayed},
                     {"refunded", c.refunded},
                     {"at_ms", r.at_ms}});
  }
  int64_t total = 0, refunded = 0;
  for (const auto& c : charges_) {
    total += c.amount;
    if (c.refunded) refunded += c.amount;
  }
  json::array declined;
  for (const auto& [order_id, calls] : declined_)
    declined.push_back(json::object{{"order_id", order_id}, {"calls", calls}});
  return http::response::json(
      200,
      json::serialize(json::object{{"captures", std::move(list)},
                                   {"declined", std::move(declined)},
                                   {"totals", json::object{{"charges", static_cast<int64_t>(charges_.size())},
                                                           {"captured", total},
                                                           {"refunded", refunded},
                                                           {"capture_calls", capture_calls_},
                                                           {"failures", failures_},
                                                           {"lost_responses", lost_},
                                                           {"refunds", refunds_}}}}));
}

}  // namespace stampede::shop

namespace stampede::shop {

// Caller holds mutex_.
void payment_emulator::send(const http::responder& reply, std::string_view route,
                            std::chrono::milliseconds delay, http::response response) {
  durations_.observe(route, "POST", response.status, std::chrono::duration<double>(delay).count());
  if (delay.count() <= 0) return reply(std::move(response));
  const auto now = std::chrono::steady_clock::now();
  while (!due_.empty() && due_.top() <= now) due_.pop();  // bounded by the replies in flight
  due_.push(now + delay);
  reply.after(delay, std::move(response));
}

// Caller holds mutex_.
http::response payment_emulator::metrics_response() {
  using prometheus::metric_type;
  const auto now = std::chrono::steady_clock::now();
  while (!due_.empty() && due_.top() <= now) due_.pop();
  prometheus::text_writer out;
  out.family(
      "payment_capture_requests_total", metric_type::counter,
      "Capture requests by result: captured (a new charge), replayed (an Idempotency-Key seen before), "
      "declined (402), failed (injected 503, nothing captured), lost (captured, then a late 504), "
      "rejected (400/422).");
  for (const char* result : {"captured", "replayed", "declined", "failed", "lost", "rejected"}) {
    auto it = capture_results_.find(std::string_view{result});
    out.sample("payment_capture_requests_total", {{"result", result}},
               it == capture_results_.end() ? uint64_t{0} : it->second);
  }
  out.family("payment_charges", metric_type::gauge, "Charges held by the gateway, by state.");
  uint64_t refunded = 0;
  int64_t captured_amount = 0, refunded_amount = 0;
  for (const auto& c : charges_) {
    captured_amount += c.amount;
    if (c.refunded) {
      ++refunded;
      refunded_amount += c.amount;
    }
  }
  out.sample("payment_charges", {{"state", "captured"}}, charges_.size() - refunded);
  out.sample("payment_charges", {{"state", "refunded"}}, refunded);
  out.family("payment_charged_amount_total", metric_type::counter,
             "Sum of the amounts charged, in the currency's minor unit (refunds not deducted).");
  out.sample("payment_charged_amount_total", {}, captured_amount);
  out.family("payment_refunded_amount_total", metric_type::counter,
             "Sum of the amounts refunded, in the currency's minor unit.");
  out.sample("payment_refunded_amount_total", {}, refunded_amount);
  out.family("payment_refund_requests_total", metric_type::counter,
             "Refund requests by result: refunded (at least one charge refunded now), repeated (all already "
             "refunded), no_charge (nothing charged for the order), rejected (400).");
  for (const char* result : {"refunded", "repeated", "no_charge", "rejected"}) {
    auto it = refund_results_.find(std::string_view{result});
    out.sample("payment_refund_requests_total", {{"result", result}},
               it == refund_results_.end() ? uint64_t{0} : it->second);
  }
  out.family("payment_injected_faults_total", metric_type::counter,
             "Faults injected by the emulator's settings: failure (503, nothing captured), lost_response "
             "(captured, answered after lose_delay).");
  out.sample("payment_injected_faults_total", {{"fault", "failure"}}, failures_);
  out.sample("payment_injected_faults_total", {{"fault", "lost_response"}}, lost_);
  durations_.render(out, "payment_http_request_duration_seconds",
                    "Delay of the gateway's replies (captures and refunds) by route, method and status.");
  out.family("payment_in_flight_requests", metric_type::gauge, "Replies waiting for their delay to pass.");
  out.sample("payment_in_flight_requests", {}, due_.size());
  const auto& s = options_.settings;
  out.family("payment_emulator_setting", metric_type::gauge,
             "The emulator's current settings (PUT /v1/settings): rates in [0, 1], latencies in seconds.");
  out.sample("payment_emulator_setting", {{"name", "failure_rate"}}, s.failure_rate);
  out.sample("payment_emulator_setting", {{"name", "decline_rate"}}, s.decline_rate);
  out.sample("payment_emulator_setting", {{"name", "lose_response_rate"}}, s.lose_response_rate);
  out.sample("payment_emulator_setting", {{"name", "latency_median_seconds"}}, s.latency_median_ms / 1000);
  out.sample("payment_emulator_setting", {{"name", "latency_p99_seconds"}}, s.latency_p99_ms / 1000);
  out.sample("payment_emulator_setting", {{"name", "lose_delay_seconds"}},
             std::chrono::duration<double>(s.lose_delay).count());
  http::response r = http::response::text(200, out.take());
  r.content_type = std::string{prometheus::content_type};
  return r;
}

}  // namespace stampede::shop
