// The tags of a finished request (docs/SCENARIOS.md, "Tags"), read only when a threshold asks for an HTTP
// sub-metric by tag set: the request's params.tags, then the system tags (name, method, status, group,
// scenario, expected_response, url), then its scenario's tags, then options.tags. Nothing here runs, and
// nothing is allocated, for a run whose thresholds use no tags beyond `name`.
#include <charconv>
#include <optional>

#include "loadgen/vu.h"
#include "loadgen/worker.h"

namespace stampede::loadgen {

namespace {

std::optional<std::string_view> find_in(const auto& tags, std::string_view key) {
  for (const auto& [k, value] : tags) {
    if (k == key) return std::string_view(value);
  }
  return std::nullopt;
}

struct request_view {
  const vu& v;
  const http_request& request;
  const http_outcome& outcome;
  std::string_view url;
  const run_options& options;
  std::string_view step_name;
  std::string_view status;  // digits, "0" without a response

  std::optional<std::string_view> tag(std::string_view key) const {
    if (auto value = find_in(request.tags, key)) return value;
    if (key == "name") return step_name;
    if (key == "method") return std::string_view(request.method);
    if (key == "status") return status;
    if (key == "group") return v.groups.empty() ? std::string_view() : std::string_view(v.groups.back().path);
    if (key == "scenario") {
      return v.scenario != nullptr ? std::string_view(v.scenario->options->name) : std::string_view();
    }
    if (key == "expected_response") return outcome.error == error_kind::none ? "true" : "false";
    if (key == "url") return url;
    if (v.scenario != nullptr) {
      if (auto value = find_in(v.scenario->options->tags, key)) return value;
    }
    return find_in(options.tags, key);
  }
};

}  // namespace

void worker::record_request_tags(const vu& v, const http_request& request, const http_outcome& outcome,
                                 std::string_view url, int64_t corrected_us) {
  std::array<char, 12> status{};
  const auto [end, ec] = std::to_chars(status.data(), status.data() + status.size(), outcome.status);
  const request_view view{v, request, outcome, url, plan_.options, metrics_.step(request.step).name,
                          std::string_view(status.data(), ec == std::errc() ? end - status.data() : 0)};
  for (const auto& tagged : metrics_.tagged_steps()) {
    bool match = true;
    for (const auto& [key, want] : tagged.tags) {
      const auto have = view.tag(key);
      if (!have || *have != want) {
        match = false;
        break;
      }
    }
    if (match) {
      metrics_.record_tagged(tagged.step, corrected_us, outcome.timings, outcome.status, outcome.error);
    }
  }
}

}  // namespace stampede::loadgen
