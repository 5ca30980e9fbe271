// The fixture of the live-view tests (custom_metrics_live_test, builtin_sub_metrics_live_test): a scenario
// run against tests/support's test server, and readers of its results (docs/RESULTS.md): the run's
// duration, a metric, its per-second series ("metric_intervals"), a threshold, whether it was aborted.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tests/loadgen/run_support.h"
#include "tests/support/test_server.h"

namespace stampede::loadgen::test {

class live_run_test : public ::testing::Test {
 protected:
  // Writes `script` to a file and runs it against the test server on `threads` workers.
  run_result run(const std::string& script, int threads = 1) {
    auto request = make_request(dir_.write("live.lua", script), server_.base_url());
    request.threads = threads;
    return run_scenario(request, dir_);
  }
  static double duration(const run_result& r) {
    return r.root().at("meta").at("duration_s").to_number<double>();
  }
  // The results' metric `name`; nullptr when there is none.
  static const json::object* metric(const run_result& r, std::string_view name) {
    for (const auto& m : r.root().at("metrics").as_array()) {
      if (m.at("name").as_string() == name) return &m.as_object();
    }
    return nullptr;
  }
  // The per-second rows of metric `name`, in order (none without "metric_intervals").
  static std::vector<json::object> series(const run_result& r, std::string_view name) {
    std::vector<json::object> out;
    const json::value* rows = r.root().if_contains("metric_intervals");
    if (rows == nullptr) return out;
    for (const auto& row : rows->as_array()) {
      if (row.at("name").as_string() == name) out.push_back(row.as_object());
    }
    return out;
  }
  // The threshold on `metric`; throws when the run has none.
  static const json::object& threshold(const run_result& r, std::string_view metric) {
    for (const auto& t : r.root().at("thresholds").as_array()) {
      if (t.at("metric").as_string() == metric) return t.as_object();
    }
    throw std::runtime_error("no threshold on " + std::string(metric));
  }
  static bool not_aborted(const run_result& r) {
    const json::value* aborted = r.root().at("meta").as_object().if_contains("aborted");
    return aborted == nullptr || aborted->is_null();
  }

  stampede::testing::test_server server_;
  temp_dir dir_;
};

}  // namespace stampede::loadgen::test
