#include "chaos/toxic.h"

#include <array>
#include <cmath>
#include <utility>

namespace stampede::chaos {
namespace {

constexpr std::array<std::pair<toxic_type, std::string_view>, 12> type_names{{
    {toxic_type::latency, "latency"},
    {toxic_type::bandwidth, "bandwidth"},
    {toxic_type::slow_close, "slow_close"},
    {toxic_type::timeout, "timeout"},
    {toxic_type::reset_peer, "reset_peer"},
    {toxic_type::slicer, "slicer"},
    {toxic_type::limit_data, "limit_data"},
    {toxic_type::limit_time, "limit_time"},
    {toxic_type::slow_open, "slow_open"},
    {toxic_type::packet_loss, "packet_loss"},
    {toxic_type::http_abort, "http_abort"},
    {toxic_type::http_delay, "http_delay"},
}};

// 24 h: large enough for any drill, small enough that time arithmetic never overflows.
constexpr int64_t max_ms = 24LL * 3600 * 1000;

void check_range(std::string_view field, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    throw invalid_toxic("attribute '" + std::string(field) + "' must be between " + std::to_string(lo) +
                        " and " + std::to_string(hi) + ", got " + std::to_string(value));
  }
}

void check_unit(std::string_view field, double value) {
  if (!(value >= 0.0 && value <= 1.0)) {  // also rejects NaN
    throw invalid_toxic("'" + std::string(field) + "' must be between 0 and 1");
  }
}

bool glob_match(std::string_view pattern, std::string_view text) noexcept {
  // Iterative wildcard match with single backtrack point: linear in practice, no recursion.
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

std::string_view to_string(toxic_type t) noexcept {
  for (const auto& [type, name] : type_names) {
    if (type == t) return name;
  }
  return "unknown";
}

std::string_view to_string(stream_direction s) noexcept {
  switch (s) {
    case stream_direction::upstream: return "upstream";
    case stream_direction::downstream: return "downstream";
    case stream_direction::both: return "both";
  }
  return "unknown";
}

std::string_view to_string(latency_distribution d) noexcept {
  switch (d) {
    case latency_distribution::uniform: return "uniform";
    case latency_distribution::normal: return "normal";
    case latency_distribution::lognormal: return "lognormal";
    case latency_distribution::pareto: return "pareto";
  }
  return "unknown";
}

std::optional<toxic_type> parse_toxic_type(std::string_view text) noexcept {
  for (const auto& [type, name] : type_names) {
    if (name == text) return type;
  }
  return std::nullopt;
}

std::optional<stream_direction> parse_stream(std::string_view text) noexcept {
  if (text == "upstream") return stream_direction::upstream;
  if (text == "downstream") return stream_direction::downstream;
  if (text == "both") return stream_direction::both;
  return std::nullopt;
}

std::optional<latency_distribution> parse_distribution(std::string_view text) noexcept {
  if (text == "uniform") return latency_distribution::uniform;
  if (text == "normal") return latency_distribution::normal;
  if (text == "lognormal") return latency_distribution::lognormal;
  if (text == "pareto") return latency_distribution::pareto;
  return std::nullopt;
}

void toxic_spec::validate_and_normalize() {
  if (name.empty()) name = std::string(to_string(type)) + "_" + std::string(to_string(stream));
  if (name.size() > 200) throw invalid_toxic("toxic name is longer than 200 bytes");
  for (char c : name) {
    if (c == '/' || static_cast<unsigned char>(c) < 0x20) throw invalid_toxic("toxic name contains '/' or a control byte");
  }
  check_unit("toxicity", toxicity);
  switch (type) {
    case toxic_type::latency:
      check_range("latency", latency, 0, max_ms);
      check_range("jitter", jitter, 0, max_ms);
      check_range("max_latency", max_latency, 0, max_ms);
      if (!(sigma > 0.0 && sigma <= 10.0)) throw invalid_toxic("attribute 'sigma' must be in (0, 10]");
      if (!(alpha > 0.0 && alpha <= 100.0)) throw invalid_toxic("attribute 'alpha' must be in (0, 100]");
      break;
    case toxic_type::bandwidth: check_range("rate", rate, 0, 100'000'000); break;
    case toxic_type::slow_close:
    case toxic_type::slow_open: check_range("delay", delay, 0, max_ms); break;
    case toxic_type::timeout:
    case toxic_type::reset_peer: check_range("timeout", timeout, 0, max_ms); break;
    case toxic_type::slicer:
      check_range("average_size", average_size, 1, 64 * 1024 * 1024);
      check_range("size_variation", size_variation, 0, average_size - 1 >= 0 ? average_size - 1 : 0);
      check_range("delay", delay, 0, max_ms * 1000);
      break;
    case toxic_type::limit_data: check_range("bytes", bytes, 0, INT64_MAX / 2); break;
    case toxic_type::limit_time: check_range("time", time, 0, max_ms); break;
    case toxic_type::packet_loss:
      check_unit("probability", probability);
      check_unit("correlation", correlation);
      break;
    case toxic_type::http_abort:
    case toxic_type::http_delay: break;
  }
  if (is_http_toxic(type)) {
    if (stream != stream_direction::upstream) {
      throw invalid_toxic("HTTP toxics read requests: their stream must be 'upstream'");
    }
    check_range("first_n", first_n, 0, INT64_MAX / 2);
    if (type == toxic_type::http_abort) check_range("status", status, 100, 599);
    if (type == toxic_type::http_delay) check_range("delay", delay, 0, max_ms);
    for (char c : method) {
      if (c <= 0x20 || c >= 0x7f) throw invalid_toxic("attribute 'method' must be a token like POST");
    }
    if (body.size() > 64 * 1024) throw invalid_toxic("attribute 'body' is longer than 64 KiB");
  }
}

bool path_matches(std::string_view pattern, std::string_view target) noexcept {
  if (pattern.empty()) return true;
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  if (pattern.find_first_of("*?") != std::string_view::npos) return glob_match(pattern, path);
  return path.substr(0, pattern.size()) == pattern;
}

}  // namespace stampede::chaos
