#include "reference_shop/alert_webhook.h"

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "common/http_server.h"

namespace stampede::shop {

namespace json = boost::json;

namespace {

std::string iso8601(int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return text;
}

json::value field(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v != nullptr ? *v : json::value{};
}

}  // namespace

std::string alert_lines(std::string_view body, int64_t received_at_ms) {
  const std::string received_at = iso8601(received_at_ms);
  std::string out;
  try {
    const json::object notification = json::parse(body).as_object();
    for (const auto& a : notification.at("alerts").as_array()) {
      const json::object& alert = a.as_object();
      const json::value labels = field(alert, "labels");
      json::value name;
      if (labels.is_object()) name = field(labels.as_object(), "alertname");
      out += json::serialize(json::object{{"received_at", received_at},
                                          {"received_at_ms", received_at_ms},
                                          {"status", field(alert, "status")},
                                          {"alertname", name},
                                          {"starts_at", field(alert, "startsAt")},
                                          {"ends_at", field(alert, "endsAt")},
                                          {"labels", labels},
                                          {"annotations", field(alert, "annotations")},
                                          {"fingerprint", field(alert, "fingerprint")},
                                          {"receiver", field(notification, "receiver")},
                                          {"group_key", field(notification, "groupKey")}});
      out += '\n';
    }
  } catch (const std::exception& e) {
    out =
        json::serialize(json::object{{"received_at", received_at},
                                     {"received_at_ms", received_at_ms},
                                     {"error", std::string{"not an Alertmanager notification: "} + e.what()},
                                     {"body", body}});
    out += '\n';
  }
  return out;
}

alert_webhook::alert_webhook(std::filesystem::path log) : log_(std::move(log)) {}

alert_webhook::~alert_webhook() { stop(); }

void alert_webhook::start() {
  http::server_options options;
  options.address = "127.0.0.1";
  options.threads = 1;
  server_ = std::make_unique<http::server>(options, [this](http::request& r) {
    if (r.method != "POST") return http::response::error(405, "method_not_allowed", "POST a notification");
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const std::string lines = alert_lines(r.body, now);
    std::lock_guard lock{mutex_};
    std::ofstream out{log_, std::ios::app};
    out << lines;
    out.flush();
    if (!out) return http::response::error(500, "write_failed", log_.string());
    return http::response::json(200, "{}");
  });
  server_->start();
}

void alert_webhook::stop() {
  if (server_) server_->stop(std::chrono::milliseconds{500});
}

uint16_t alert_webhook::port() const noexcept { return server_ ? server_->port() : 0; }

}  // namespace stampede::shop
