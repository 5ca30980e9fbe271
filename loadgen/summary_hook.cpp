// handleSummary's argument and outputs (summary_hook.h).
#include "loadgen/summary_hook.h"

#include <boost/json.hpp>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace stampede::loadgen {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

double number_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_number() ? v->to_number<double>() : 0.0;
}

// k6's trend values from a latency summary of the results ({min, mean, p50, p90, p95, p99, p999, max}).
// A count as the results hold it (an integer stays an integer: 3, not 3.0, in Lua).
json::value count_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_number() ? *v : json::value(0);
}

json::object trend_values(const json::value* latency) {
  json::object values;
  if (latency == nullptr || !latency->is_object()) return values;
  const json::object& l = latency->as_object();
  values["avg"] = number_at(l, "mean");
  values["min"] = number_at(l, "min");
  values["med"] = number_at(l, "p50");
  values["max"] = number_at(l, "max");
  values["p(90)"] = number_at(l, "p90");
  values["p(95)"] = number_at(l, "p95");
  values["p(99)"] = number_at(l, "p99");
  values["p(99.9)"] = number_at(l, "p999");
  return values;
}

json::object metric(std::string_view type, std::string_view contains, json::object values) {
  return json::object{{"type", type}, {"contains", contains}, {"values", std::move(values)}};
}

// data.metrics: the run-wide metrics k6 users read in handleSummary, with the thresholds set on them.
json::object k6_metrics(const json::object& root) {
  const json::object& s = root.at("summary").as_object();
  const double duration = std::max(1e-9, number_at(root.at("meta").as_object(), "duration_s"));
  const double requests = number_at(s, "requests"), errors = number_at(s, "errors");
  json::object m;
  m["http_req_duration"] = metric("trend", "time", trend_values(s.if_contains("latency_ms")));
  m["http_req_duration_uncorrected"] =
      metric("trend", "time", trend_values(s.if_contains("uncorrected_latency_ms")));
  m["http_reqs"] =
      metric("counter", "default", {{"count", count_at(s, "requests")}, {"rate", requests / duration}});
  m["http_req_failed"] = metric("rate", "default",
                                {{"rate", requests > 0 ? errors / requests : 0.0},
                                 {"passes", count_at(s, "errors")},
                                 {"fails", static_cast<int64_t>(requests - errors)}});
  const double iterations = number_at(s, "iterations");
  m["iterations"] =
      metric("counter", "default", {{"count", count_at(s, "iterations")}, {"rate", iterations / duration}});
  m["dropped_iterations"] = metric("counter", "default", {{"count", count_at(s, "dropped_iterations")}});
  m["data_sent"] = metric("counter", "data", {{"count", count_at(s, "data_sent_bytes")}});
  m["data_received"] = metric("counter", "data", {{"count", count_at(s, "data_received_bytes")}});
  m["vus_max"] = metric("gauge", "default", {{"value", count_at(s, "vus_max")}});
  int64_t passes = 0, fails = 0;
  if (const json::value* checks = root.if_contains("checks"); checks != nullptr && checks->is_array()) {
    for (const auto& c : checks->as_array()) {
      passes += static_cast<int64_t>(number_at(c.as_object(), "passes"));
      fails += static_cast<int64_t>(number_at(c.as_object(), "fails"));
    }
  }
  if (passes + fails > 0) {
    m["checks"] = metric("rate", "default",
                         {{"rate", static_cast<double>(passes) / static_cast<double>(passes + fails)},
                          {"passes", passes},
                          {"fails", fails}});
  }
  // The script's custom metrics (and their sub-metrics by tag set), in k6's shapes.
  if (const json::value* custom = root.if_contains("metrics"); custom != nullptr && custom->is_array()) {
    for (const auto& entry : custom->as_array()) {
      const json::object& c = entry.as_object();
      const json::value* name = c.if_contains("name");
      const json::value* type = c.if_contains("type");
      if (name == nullptr || type == nullptr || !name->is_string() || !type->is_string()) continue;
      const std::string_view kind = type->as_string();
      if (kind == "trend") {
        const json::value* is_time = c.if_contains("is_time");
        const bool time = is_time != nullptr && is_time->is_bool() && is_time->as_bool();
        m[name->as_string()] = metric("trend", time ? "time" : "default", trend_values(c.if_contains("stats")));
      } else if (kind == "counter") {
        m[name->as_string()] = metric("counter", "default", {{"count", count_at(c, "count")}, {"rate", number_at(c, "rate")}});
      } else if (kind == "rate") {
        const double samples = number_at(c, "samples"), trues = number_at(c, "trues");
        m[name->as_string()] = metric("rate", "default",
                                      {{"rate", number_at(c, "rate")},
                                       {"passes", count_at(c, "trues")},
                                       {"fails", static_cast<int64_t>(samples - trues)}});
      } else if (kind == "gauge") {
        m[name->as_string()] = metric("gauge", "default",
                                      {{"value", count_at(c, "value")}, {"min", count_at(c, "min")}, {"max", count_at(c, "max")}});
      }
    }
  }
  // k6 hangs each threshold under its metric: thresholds = { ["p(95)<200"] = { ok = true } }. Thresholds on
  // metrics not listed above (a sub-metric, a phase) get an entry with their thresholds only.
  if (const json::value* thresholds = root.if_contains("thresholds");
      thresholds != nullptr && thresholds->is_array()) {
    for (const auto& t : thresholds->as_array()) {
      const json::object& o = t.as_object();
      const json::value* name = o.if_contains("metric");
      const json::value* expression = o.if_contains("expression");
      const json::value* ok = o.if_contains("ok");
      if (name == nullptr || expression == nullptr || !name->is_string() || !expression->is_string())
        continue;
      json::value& slot = m[name->as_string()];
      if (!slot.is_object()) slot.emplace_object();
      json::value& list = slot.as_object()["thresholds"];
      if (!list.is_object()) list.emplace_object();
      list.as_object()[expression->as_string()] =
          json::object{{"ok", ok != nullptr && ok->is_bool() && ok->as_bool()}};
    }
  }
  return m;
}

}  // namespace

std::string summary_hook_data(const json::value& results, bool stdout_tty, bool stderr_tty) {
  const json::object& root = results.as_object();
  json::object data;
  data["metrics"] = k6_metrics(root);
  data["state"] =
      json::object{{"testRunDurationMs", number_at(root.at("meta").as_object(), "duration_s") * 1000.0},
                   {"isStdOutTTY", stdout_tty},
                   {"isStdErrTTY", stderr_tty}};
  if (const json::value* t = root.if_contains("thresholds")) data["thresholds"] = *t;
  if (const json::value* c = root.if_contains("checks")) data["checks"] = *c;
  json::object model = root;
  model.erase("intervals");  // per step and second: the bulk of a long run's file, and of no use here
  data["results"] = std::move(model);
  return json::serialize(data);
}

fs::path confined_summary_path(const fs::path& base, std::string_view name) {
  const std::string quoted = "'" + std::string(name) + "'";
  if (name.empty() || name.find('\0') != std::string_view::npos) {
    throw std::invalid_argument("handleSummary: " + quoted + " is not a file name");
  }
  const fs::path relative(name);
  if (relative.is_absolute() || relative.has_root_name() || relative.has_root_directory()) {
    throw std::invalid_argument("handleSummary: " + quoted +
                                " is an absolute path: files are written under " + base.string() +
                                " (name them relative to it)");
  }
  const fs::path normal = relative.lexically_normal();
  if (normal.empty() || *normal.begin() == ".." || normal == ".") {
    throw std::invalid_argument("handleSummary: " + quoted + " leads outside the output directory " +
                                base.string());
  }
  const fs::path full = base / normal;
  // Symbolic links inside `base` must not lead out of it: the nearest existing ancestor, resolved,
  // must stay inside the resolved base, before and after the directories are created.
  const fs::path real_base = fs::weakly_canonical(base);
  const auto inside = [&](const fs::path& p) {
    const fs::path real = fs::weakly_canonical(p);
    auto [b, r] = std::mismatch(real_base.begin(), real_base.end(), real.begin(), real.end());
    return b == real_base.end();
  };
  const auto escape = [&] {
    return std::invalid_argument("handleSummary: " + quoted + " leads outside the output directory " +
                                 base.string() + " through a symbolic link");
  };
  if (!inside(full.parent_path())) throw escape();
  std::error_code ec;
  fs::create_directories(full.parent_path(), ec);
  if (ec)
    throw std::invalid_argument("handleSummary: cannot create the directory of " + quoted + ": " +
                                ec.message());
  if (!inside(full.parent_path())) throw escape();
  if (fs::is_symlink(fs::symlink_status(full))) throw escape();
  return full;
}

std::vector<std::string> write_summary_outputs(std::string_view returned_json, const fs::path& base,
                                               std::FILE* out, std::FILE* err) {
  boost::system::error_code ec;
  const json::value returned = json::parse(json::string_view(returned_json.data(), returned_json.size()), ec);
  if (returned.is_null() && !ec) return {};  // returned nothing: nothing to write
  if (ec || !returned.is_object()) {
    throw std::invalid_argument(
        "handleSummary() must return a table of name = content (\"stdout\", "
        "\"stderr\" or a file name)");
  }
  std::vector<std::string> problems;
  for (const auto& [key, value] : returned.as_object()) {
    const std::string name(key);
    const std::string content = value.is_string() ? std::string(value.as_string()) : json::serialize(value);
    if (name == "stdout" || name == "stderr") {
      std::FILE* stream = name == "stdout" ? out : err;
      std::fwrite(content.data(), 1, content.size(), stream);
      std::fflush(stream);
      continue;
    }
    try {
      const fs::path path = confined_summary_path(base, name);
      std::ofstream file(path, std::ios::binary | std::ios::trunc);
      file << content;
      file.close();
      if (!file) problems.push_back("handleSummary: cannot write " + path.string());
    } catch (const std::exception& e) {
      problems.emplace_back(e.what());
    }
  }
  return problems;
}

}  // namespace stampede::loadgen
