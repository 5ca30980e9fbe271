#include "drill/alerts.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <boost/json.hpp>

#include "common/http_client.h"
#include "drill/shop_process.h"

namespace stampede::drill {

namespace json = boost::json;

namespace {

json::value opt(const std::optional<double>& v) { return v ? json::value(*v) : json::value(nullptr); }

// min of an optional and a value.
void take_min(std::optional<double>& into, std::optional<double> v) {
  if (v && (!into || *v < *into)) into = v;
}

// "k=v,k=v" of a label set, sorted, without alertname, alertstate and __name__ (alertname is kept apart).
std::string identifying_labels(const json::object& labels) {
  std::map<std::string, std::string> sorted;
  for (const auto& kv : labels) {
    if (kv.key() == "alertstate" || kv.key() == "__name__" || kv.key() == "alertname") continue;
    if (kv.value().is_string()) sorted[std::string(kv.key())] = std::string(kv.value().as_string());
  }
  std::string out;
  for (const auto& [k, v] : sorted) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}

std::string string_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

json::object episode_json(const alert_episode& e) {
  return {{"alertname", e.alertname},
          {"labels", e.labels},
          {"first_s", e.first_s},
          {"pending_s", opt(e.pending_s)},
          {"firing_s", opt(e.firing_s)}};
}

}  // namespace

json::object attribute_alerts(const std::vector<fault_window>& faults,
                              const std::vector<alert_episode>& episodes,
                              const std::vector<alert_notification>& notifications, double grace_s) {
  std::vector<bool> attributed(episodes.size(), false);
  json::array fault_rows, missed;
  for (const auto& f : faults) {
    const double window_end = f.end_s + grace_s;
    json::array alerts;
    std::optional<double> first_pending, first_firing, first_notified;
    std::set<std::string> fired;
    for (size_t i = 0; i < episodes.size(); ++i) {
      const auto& e = episodes[i];
      if (e.first_s < f.start_s || e.first_s > window_end) continue;
      attributed[i] = true;
      // Its notification: the first "firing" one of the same alert at or after the episode's start.
      std::optional<double> notified;
      for (const auto& n : notifications) {
        if (n.status == "firing" && n.alertname == e.alertname && n.labels == e.labels &&
            n.received_s >= e.first_s) {
          take_min(notified, n.received_s);
        }
      }
      const auto after = [&](std::optional<double> t) {
        return t ? std::optional<double>(*t - f.start_s) : t;
      };
      take_min(first_pending, after(e.pending_s));
      take_min(first_firing, after(e.firing_s));
      take_min(first_notified, after(notified));
      if (e.firing_s) fired.insert(e.alertname);
      alerts.push_back(json::object{{"alertname", e.alertname},
                                    {"labels", e.labels},
                                    {"started_after_s", e.first_s - f.start_s},
                                    {"pending_after_s", opt(after(e.pending_s))},
                                    {"firing_after_s", opt(after(e.firing_s))},
                                    {"notified_after_s", opt(after(notified))}});
    }
    json::array fired_names;
    for (const auto& name : fired) fired_names.push_back(json::value(name));
    if (alerts.empty()) missed.push_back(json::object{{"fault_id", f.id}, {"label", f.label}});
    fault_rows.push_back(json::object{{"fault_id", f.id},
                                      {"label", f.label},
                                      {"start_s", f.start_s},
                                      {"window_end_s", window_end},
                                      {"first_pending_after_s", opt(first_pending)},
                                      {"first_firing_after_s", opt(first_firing)},
                                      {"first_notification_after_s", opt(first_notified)},
                                      {"fired", std::move(fired_names)},
                                      {"alerts", std::move(alerts)}});
  }
  json::array false_alarms;
  for (size_t i = 0; i < episodes.size(); ++i) {
    if (!attributed[i]) false_alarms.push_back(episode_json(episodes[i]));
  }
  return {{"grace_s", grace_s},
          {"faults", std::move(fault_rows)},
          {"false_alarms", std::move(false_alarms)},
          {"missed", std::move(missed)}};
}

std::vector<alert_episode> episodes_from_matrix(const json::value& result, double start_unix_s,
                                                double step_s) {
  if (!result.is_array())
    throw std::runtime_error("Prometheus answered no matrix (data.result is not a list)");
  // Samples per alert (alertname + labels), each with its state.
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<double, bool>>> samples;  // (t, firing)
  for (const auto& series : result.as_array()) {
    const auto* metric = series.is_object() ? series.as_object().if_contains("metric") : nullptr;
    const auto* values = series.is_object() ? series.as_object().if_contains("values") : nullptr;
    if (metric == nullptr || !metric->is_object() || values == nullptr || !values->is_array()) {
      throw std::runtime_error("Prometheus answered a series without metric and values");
    }
    const auto& labels = metric->as_object();
    const bool firing = string_at(labels, "alertstate") == "firing";
    auto& into = samples[{string_at(labels, "alertname"), identifying_labels(labels)}];
    for (const auto& point : values->as_array()) {
      if (!point.is_array() || point.as_array().empty() || !point.as_array()[0].is_number()) {
        throw std::runtime_error("Prometheus answered a sample that is not [time, value]");
      }
      into.emplace_back(point.as_array()[0].to_number<double>() - start_unix_s, firing);
    }
  }
  std::vector<alert_episode> episodes;
  for (auto& [key, points] : samples) {
    std::sort(points.begin(), points.end());
    std::optional<alert_episode> current;
    double last = 0;
    for (const auto& [t, firing] : points) {
      if (current && t - last > 1.5 * step_s) {  // a gap: the alert resolved, this is a new activation
        episodes.push_back(std::move(*current));
        current.reset();
      }
      if (!current) current = alert_episode{key.first, key.second, t, std::nullopt, std::nullopt};
      if (firing && !current->firing_s) current->firing_s = t;
      if (!firing && !current->pending_s && !current->firing_s) current->pending_s = t;
      last = t;
    }
    if (current) episodes.push_back(std::move(*current));
  }
  std::sort(episodes.begin(), episodes.end(), [](const alert_episode& a, const alert_episode& b) {
    return std::tie(a.first_s, a.alertname, a.labels) < std::tie(b.first_s, b.alertname, b.labels);
  });
  return episodes;
}

std::vector<alert_notification> notifications_from_jsonl(const std::string& text, double start_unix_s,
                                                         int& skipped) {
  std::vector<alert_notification> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    boost::system::error_code ec;
    const json::value v = json::parse(line, ec);
    const json::object* o = !ec && v.is_object() ? &v.as_object() : nullptr;
    const json::value* ms = o != nullptr ? o->if_contains("received_at_ms") : nullptr;
    const json::value* labels = o != nullptr ? o->if_contains("labels") : nullptr;
    if (ms == nullptr || !ms->is_number() || labels == nullptr || !labels->is_object()) {
      ++skipped;
      continue;
    }
    out.push_back({string_at(*o, "alertname"), identifying_labels(labels->as_object()),
                   string_at(*o, "status"), ms->to_number<double>() / 1000.0 - start_unix_s});
  }
  return out;
}

json::object measure_alerts(const json::value& results, const json::value& topology, double grace_s,
                            std::chrono::milliseconds call_timeout) {
  const auto not_measured = [](const std::string& why) {
    return json::object{{"measured", false}, {"error", "alerts not measured: " + why}};
  };
  try {
    const auto* obs = topology.is_object() ? topology.as_object().if_contains("observability") : nullptr;
    if (obs == nullptr || !obs->is_object()) return not_measured("the shop runs without --observe");
    const std::string url = string_at(obs->as_object().at("prometheus").as_object(), "url");
    const uint16_t port = port_of(url);
    if (port == 0) return not_measured("no Prometheus URL in the topology ('" + url + "')");
    const auto& meta = results.at("meta").as_object();
    const double start_unix_s = meta.at("start_unix_ms").to_number<double>() / 1000.0;
    const double duration_s = meta.at("duration_s").to_number<double>();
    const double now_unix_s =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    // From a little before the run (an alert already active then is a false alarm) to now (the heal and the
    // quiet wait included). At most 10000 points a series (Prometheus refuses more than 11000).
    const double from = start_unix_s - 30, to = std::max(now_unix_s, start_unix_s + duration_s);
    const double step_s = std::max(1.0, std::ceil((to - from) / 10000.0));
    char target[256];
    std::snprintf(target, sizeof target, "/api/v1/query_range?query=ALERTS&start=%.3f&end=%.3f&step=%.0f",
                  from, to, step_s);
    json::value answer;
    try {
      http::blocking_client client("127.0.0.1", port, call_timeout);
      const auto res = client.get(target);
      if (res.status != 200) {
        return not_measured("Prometheus " + url + " answered " + std::to_string(res.status) + ": " +
                            res.body.substr(0, 200));
      }
      answer = json::parse(res.body);
    } catch (const std::exception& e) {
      return not_measured("Prometheus " + url + ": " + e.what());
    }
    if (string_at(answer.as_object(), "status") != "success") {
      return not_measured("Prometheus " + url + " answered " + json::serialize(answer).substr(0, 200));
    }
    const auto episodes = episodes_from_matrix(answer.at("data").at("result"), start_unix_s, step_s);

    int skipped = 0;
    std::vector<alert_notification> notifications;
    std::string webhook_error;
    const std::string log = string_at(obs->as_object().at("alert_webhook").as_object(), "log");
    if (std::ifstream in{log}) {
      std::ostringstream text;
      text << in.rdbuf();
      notifications = notifications_from_jsonl(text.str(), start_unix_s, skipped);
    } else if (!log.empty()) {
      webhook_error = "no webhook log " + log;  // no notification yet: the receiver writes it on the first
    }

    std::vector<fault_window> faults;
    if (const auto* chaos = results.as_object().if_contains("chaos"); chaos != nullptr && chaos->is_array()) {
      int64_t position = 0;
      for (const auto& f : chaos->as_array()) {
        ++position;
        const auto& fo = f.as_object();
        fault_window w;
        w.id = fo.contains("id") ? fo.at("id").to_number<int64_t>() : position;
        w.label = string_at(fo, "label");
        w.start_s = fo.at("start_s").to_number<double>();
        const auto* end = fo.if_contains("end_s");
        w.end_s =
            end != nullptr && end->is_number() ? end->to_number<double>() : std::max(duration_s, w.start_s);
        faults.push_back(std::move(w));
      }
    }
    json::object out{{"measured", true},
                     {"source", "Prometheus ALERTS, query_range"},
                     {"prometheus", url},
                     {"rules", string_at(obs->as_object(), "rules")},
                     {"step_s", step_s},
                     {"queried_from_s", from - start_unix_s},
                     {"queried_to_s", to - start_unix_s},
                     {"webhook_log", log},
                     {"notifications", notifications.size()},
                     {"notification_lines_skipped", skipped}};
    if (!webhook_error.empty()) out["webhook_note"] = webhook_error;
    json::array all;
    for (const auto& e : episodes) all.push_back(episode_json(e));
    out["episodes"] = std::move(all);
    for (auto& kv : attribute_alerts(faults, episodes, notifications, grace_s)) out[kv.key()] = kv.value();
    // Whether Prometheus scraped the load generator (job "stampede", the drill's --observe-generator) during
    // the run: the customers' side and the system's side in one place. Null when it could not be asked.
    out["generator_scraped"] = nullptr;
    std::snprintf(target, sizeof target,
                  "/api/v1/query?query=max_over_time(up%%7Bjob%%3D%%22stampede%%22%%7D%%5B%.0fs%%5D)&time=%.3f",
                  std::ceil(to - from), to);
    try {
      http::blocking_client client("127.0.0.1", port, call_timeout);
      const auto res = client.get(target);
      const json::value v = json::parse(res.body);
      const auto& result = v.at("data").at("result").as_array();
      out["generator_scraped"] =
          !result.empty() && result[0].at("value").as_array()[1].as_string() == std::string_view{"1"};
    } catch (const std::exception&) {
      // left null: the alerts above stand on their own
    }
    return out;
  } catch (const std::exception& e) {
    return not_measured(e.what());
  }
}

std::string alerts_summary(const json::value& results) {
  const auto* drill = results.is_object() ? results.as_object().if_contains("drill") : nullptr;
  const auto* alerts =
      drill != nullptr && drill->is_object() ? drill->as_object().if_contains("alerts") : nullptr;
  if (alerts == nullptr || !alerts->is_object()) return {};
  const auto& a = alerts->as_object();
  if (const auto* m = a.if_contains("measured"); m == nullptr || !m->is_bool() || !m->as_bool()) {
    return "    " + string_at(a, "error") + "\n";
  }
  const auto seconds = [](const json::value& v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fs", v.to_number<double>());
    return v.is_number() ? std::string(buf) : std::string("-");
  };
  std::string out;
  for (const auto& f : a.at("faults").as_array()) {
    const auto& fo = f.as_object();
    std::string names;
    for (const auto& n : fo.at("fired").as_array())
      names += (names.empty() ? "" : ", ") + std::string(n.as_string());
    out += "    alerts for " + string_at(fo, "label") + ": pending " +
           seconds(fo.at("first_pending_after_s")) + ", firing " + seconds(fo.at("first_firing_after_s")) +
           ", notified " + seconds(fo.at("first_notification_after_s")) + " after the fault" +
           (names.empty() ? std::string() : " (" + names + ")") + "\n";
  }
  out += "    alerts: " + std::to_string(a.at("false_alarms").as_array().size()) + " false alarm(s), " +
         std::to_string(a.at("missed").as_array().size()) + " fault(s) missed\n";
  return out;
}

}  // namespace stampede::drill
