#include "distributed/snapshot_codec.h"

#include <boost/json.hpp>
#include <stdexcept>
#include <string>

#include "results/custom_metrics.h"

namespace stampede::distributed {

namespace json = boost::json;
using loadgen::interval_snapshot;

namespace {

std::string_view kind_name(loadgen::step_kind kind) {
  switch (kind) {
    case loadgen::step_kind::request:
      return "request";
    case loadgen::step_kind::group:
      return "group";
    case loadgen::step_kind::tagged:
      return "tagged";
  }
  return "request";
}

loadgen::step_kind kind_of(std::string_view name, std::string_view where) {
  if (name == "request") return loadgen::step_kind::request;
  if (name == "group") return loadgen::step_kind::group;
  if (name == "tagged") return loadgen::step_kind::tagged;
  throw std::invalid_argument(std::string(where) + ": unknown step kind '" + std::string(name) + "'");
}

template <class Array>
json::array numbers(const Array& values) {
  json::array out;
  for (const auto v : values) out.emplace_back(v);
  return out;
}

const json::value& field(const json::object& o, std::string_view key, std::string_view where) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) throw std::invalid_argument(std::string(where) + "." + std::string(key) + ": missing");
  return *v;
}

int64_t integer(const json::object& o, std::string_view key, std::string_view where) {
  const json::value& v = field(o, key, where);
  if (!v.is_int64() && !v.is_uint64()) {
    throw std::invalid_argument(std::string(where) + "." + std::string(key) + ": expected a whole number");
  }
  return v.to_number<int64_t>();
}

std::string_view text(const json::object& o, std::string_view key, std::string_view where) {
  const json::value& v = field(o, key, where);
  if (!v.is_string())
    throw std::invalid_argument(std::string(where) + "." + std::string(key) + ": expected a string");
  return v.as_string();
}

hdr_histogram histogram(const json::object& o, std::string_view key, std::string_view where) {
  auto h = hdr_histogram::decode_base64(text(o, key, where));
  if (!h) throw std::invalid_argument(std::string(where) + "." + std::string(key) + ": not a V2 histogram");
  return std::move(*h);
}

template <size_t N>
std::array<int64_t, N> fixed_numbers(const json::value& v, std::string_view where) {
  std::array<int64_t, N> out{};
  if (!v.is_array() || v.as_array().size() != N) {
    throw std::invalid_argument(std::string(where) + ": expected " + std::to_string(N) + " numbers");
  }
  for (size_t i = 0; i < N; ++i) {
    const json::value& e = v.as_array()[i];
    if (!e.is_int64() && !e.is_uint64())
      throw std::invalid_argument(std::string(where) + ": expected whole numbers");
    out[i] = e.to_number<int64_t>();
  }
  return out;
}

const json::array& array_field(const json::object& o, std::string_view key, std::string_view where) {
  const json::value& v = field(o, key, where);
  if (!v.is_array())
    throw std::invalid_argument(std::string(where) + "." + std::string(key) + ": expected an array");
  return v.as_array();
}

double number(const json::object& o, std::string_view key, std::string_view where) {
  const json::value& v = field(o, key, where);
  if (!v.is_number())
    throw std::invalid_argument(std::string(where) + "." + std::string(key) + ": expected a number");
  return v.to_number<double>();
}

results::metric_type metric_type_of(std::string_view name, std::string_view where) {
  using results::metric_type;
  for (const auto type : {metric_type::counter, metric_type::gauge, metric_type::rate, metric_type::trend}) {
    if (results::to_string(type) == name) return type;
  }
  throw std::invalid_argument(std::string(where) + ".type: unknown metric type '" + std::string(name) + "'");
}

// A custom metric's (or sub-metric's) samples of one second: every field, so the coordinator's merge of them
// is the agents' own (trends bucket for bucket; doubles are written in their shortest exact form).
json::object sink_json(const loadgen::custom_sink& sink) {
  json::object o{{"samples", sink.samples},
                 {"sum", sink.sum},
                 {"trues", sink.trues},
                 {"last", sink.last},
                 {"min", sink.min},
                 {"max", sink.max},
                 {"last_unix_us", sink.last_unix_us}};
  if (sink.histogram) o["histogram"] = sink.histogram->encode_compressed_base64();
  return o;
}

loadgen::custom_sink sink_from(const json::value& v, std::string_view where) {
  if (!v.is_object()) throw std::invalid_argument(std::string(where) + ": expected an object");
  const json::object& o = v.as_object();
  loadgen::custom_sink sink;
  sink.samples = integer(o, "samples", where);
  sink.sum = number(o, "sum", where);
  sink.trues = integer(o, "trues", where);
  sink.last = number(o, "last", where);
  sink.min = number(o, "min", where);
  sink.max = number(o, "max", where);
  sink.last_unix_us = integer(o, "last_unix_us", where);
  if (o.contains("histogram"))
    sink.histogram = std::make_unique<hdr_histogram>(histogram(o, "histogram", where));
  return sink;
}

json::array custom_json(const loadgen::custom_metrics& custom) {
  json::array out;
  for (const auto& m : custom.metrics()) {
    json::array subs;
    for (const auto& sub : m->subs) {
      json::array tags;
      for (const auto& t : sub.tags) tags.emplace_back(json::array{t.key, t.value});
      subs.emplace_back(
          json::object{{"text", sub.text}, {"tags", std::move(tags)}, {"sink", sink_json(sub.sink)}});
    }
    out.emplace_back(json::object{{"name", m->name},
                                  {"type", results::to_string(m->type)},
                                  {"time", m->is_time},
                                  {"sink", sink_json(m->all)},
                                  {"subs", std::move(subs)}});
  }
  return out;
}

void custom_from(const json::array& metrics, loadgen::custom_metrics& custom) {
  for (size_t i = 0; i < metrics.size(); ++i) {
    const std::string at = "snapshot.custom[" + std::to_string(i) + "]";
    if (!metrics[i].is_object()) throw std::invalid_argument(at + ": expected an object");
    const json::object& j = metrics[i].as_object();
    const results::metric_type type = metric_type_of(text(j, "type", at), at);
    const json::value& time = field(j, "time", at);
    size_t index = 0;
    try {
      index = custom.declare(text(j, "name", at), type, time.is_bool() && time.as_bool());
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(at + ".name: " + e.what());
    }
    loadgen::custom_metric& m = custom.at(index);
    m.all = sink_from(field(j, "sink", at), at + ".sink");
    const json::array& subs = array_field(j, "subs", at);
    for (size_t k = 0; k < subs.size(); ++k) {
      const std::string sub_at = at + ".subs[" + std::to_string(k) + "]";
      if (!subs[k].is_object()) throw std::invalid_argument(sub_at + ": expected an object");
      const json::object& js = subs[k].as_object();
      std::vector<results::tag_filter> tags;
      for (const json::value& t : array_field(js, "tags", sub_at)) {
        if (!t.is_array() || t.as_array().size() != 2 || !t.as_array()[0].is_string() ||
            !t.as_array()[1].is_string())
          throw std::invalid_argument(sub_at + ".tags: expected [key, value] pairs of strings");
        tags.push_back({std::string(t.as_array()[0].as_string()), std::string(t.as_array()[1].as_string())});
      }
      m.subs.push_back({std::move(tags), std::string(text(js, "text", sub_at)),
                        sink_from(field(js, "sink", sub_at), sub_at + ".sink")});
    }
  }
}

json::array builtin_subs_json(const loadgen::builtin_sub_metrics& subs) {
  json::array out;
  subs.for_each(
      [&](const results::metric_selector& selector, results::metric_type, const loadgen::custom_sink& sink) {
        out.emplace_back(json::object{{"selector", selector.text}, {"sink", sink_json(sink)}});
      });
  return out;
}

void builtin_subs_from(const json::array& subs, loadgen::builtin_sub_metrics& out) {
  for (size_t i = 0; i < subs.size(); ++i) {
    const std::string at = "snapshot.builtin_subs[" + std::to_string(i) + "]";
    if (!subs[i].is_object()) throw std::invalid_argument(at + ": expected an object");
    const json::object& j = subs[i].as_object();
    results::metric_selector selector;
    try {
      selector = results::parse_metric_selector(text(j, "selector", at));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(at + ".selector: " + e.what());
    }
    if (!results::recorded_in_metrics(selector))
      throw std::invalid_argument(at + ".selector: '" + selector.text + "' is not a built-in sub-metric");
    out.add_samples(selector, sink_from(field(j, "sink", at), at + ".sink"));
  }
}

}  // namespace

json::value snapshot_to_json(const interval_snapshot& s) {
  json::array steps;
  for (const auto& step : s.steps) {
    json::array statuses;
    for (const auto& row : step.statuses) statuses.emplace_back(numbers(row));
    steps.emplace_back(json::object{{"name", step.name},
                                    {"kind", kind_name(step.kind)},
                                    {"corrected", step.corrected.encode_compressed_base64()},
                                    {"requests", step.requests},
                                    {"errors", step.errors},
                                    {"declared", step.declared},
                                    {"statuses", std::move(statuses)}});
  }
  json::array checks;
  for (const auto& [key, counts] : s.checks) {
    checks.emplace_back(json::object{
        {"group", key.group}, {"name", key.name}, {"passes", counts.passes}, {"fails", counts.fails}});
  }
  json::object o{
      {"second", s.second},          {"worker", s.worker},
      {"steps", std::move(steps)},   {"errors_by_kind", numbers(s.errors_by_kind)},
      {"iterations", s.iterations},  {"dropped_iterations", s.dropped_iterations},
      {"checks", std::move(checks)}, {"vus", s.vus},
      {"vus_max", s.vus_max},        {"event_loop_lag", s.event_loop_lag.encode_compressed_base64()}};
  if (s.iteration_durations) o["iteration_durations"] = s.iteration_durations->encode_compressed_base64();
  if (!s.custom.empty()) o["custom"] = custom_json(s.custom);
  if (!s.builtin_subs.empty()) o["builtin_subs"] = builtin_subs_json(s.builtin_subs);
  return o;
}

interval_snapshot snapshot_from_json(const json::value& value) {
  constexpr std::string_view where = "snapshot";
  if (!value.is_object()) throw std::invalid_argument("snapshot: expected an object");
  const json::object& o = value.as_object();
  interval_snapshot s;
  s.second = integer(o, "second", where);
  s.worker = static_cast<int>(integer(o, "worker", where));
  const json::array& steps = array_field(o, "steps", where);
  for (size_t i = 0; i < steps.size(); ++i) {
    const std::string at = "snapshot.steps[" + std::to_string(i) + "]";
    if (!steps[i].is_object()) throw std::invalid_argument(at + ": expected an object");
    const json::object& j = steps[i].as_object();
    interval_snapshot::step step{
        .name = std::string(text(j, "name", at)),
        .kind = kind_of(text(j, "kind", at), at),
        .corrected = histogram(j, "corrected", at),
        .requests = integer(j, "requests", at),
        .errors = integer(j, "errors", at),
        .declared = field(j, "declared", at).is_bool() && field(j, "declared", at).as_bool(),
        .statuses = {}};
    for (const json::value& row : array_field(j, "statuses", at))
      step.statuses.push_back(fixed_numbers<6>(row, at + ".statuses"));
    s.steps.push_back(std::move(step));
  }
  s.errors_by_kind =
      fixed_numbers<loadgen::error_kind_count>(field(o, "errors_by_kind", where), "snapshot.errors_by_kind");
  s.iterations = integer(o, "iterations", where);
  s.dropped_iterations = integer(o, "dropped_iterations", where);
  for (const json::value& c : array_field(o, "checks", where)) {
    if (!c.is_object()) throw std::invalid_argument("snapshot.checks: expected objects");
    const json::object& j = c.as_object();
    s.checks[loadgen::check_key{std::string(text(j, "group", "snapshot.checks")),
                                std::string(text(j, "name", "snapshot.checks"))}] = loadgen::check_counts{
        integer(j, "passes", "snapshot.checks"), integer(j, "fails", "snapshot.checks")};
  }
  s.vus = integer(o, "vus", where);
  s.vus_max = integer(o, "vus_max", where);
  s.event_loop_lag = histogram(o, "event_loop_lag", where);
  if (o.contains("iteration_durations")) s.iteration_durations = histogram(o, "iteration_durations", where);
  if (o.contains("custom")) custom_from(array_field(o, "custom", where), s.custom);
  if (o.contains("builtin_subs")) builtin_subs_from(array_field(o, "builtin_subs", where), s.builtin_subs);
  return s;
}

}  // namespace stampede::distributed
