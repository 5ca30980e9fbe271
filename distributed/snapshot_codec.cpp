#include "distributed/snapshot_codec.h"

#include <boost/json.hpp>
#include <stdexcept>
#include <string>

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
  json::object o{{"second", s.second},
                 {"worker", s.worker},
                 {"steps", std::move(steps)},
                 {"errors_by_kind", numbers(s.errors_by_kind)},
                 {"iterations", s.iterations},
                 {"dropped_iterations", s.dropped_iterations},
                 {"checks", std::move(checks)},
                 {"vus", s.vus},
                 {"vus_max", s.vus_max},
                 {"event_loop_lag", s.event_loop_lag.encode_compressed_base64()}};
  if (s.iteration_durations) o["iteration_durations"] = s.iteration_durations->encode_compressed_base64();
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
  return s;
}

}  // namespace stampede::distributed
