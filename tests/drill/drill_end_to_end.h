// What the end-to-end drill tests share (drill_end_to_end_test.cpp, drill_db_gamedays_test.cpp): a drill
// on a fresh 3-node shop with the real binary, and the check that its faults have recovery figures.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/drill_process.h"

namespace stampede::testing::drill_e2e {

// `stampede drill scenarios/SCENARIO` on a fresh 3-node shop, then up to 20 s of quiet wait.
inline drill_run drill(const std::string& scenario, const temp_dir& dir, std::vector<std::string> extra) {
  extra.insert(extra.begin(), {"--nodes", "3", "--quiet", "--quiet-timeout", "20s"});
  return run_drill({.scenario = scenario_path(scenario), .dir = dir.path(), .args = std::move(extra)});
}

// Faults were injected without error and each has recovery figures.
inline void expect_faults_with_recovery(const drill_run& r, size_t faults) {
  const auto& chaos = r.results.at("chaos").as_array();
  ASSERT_EQ(chaos.size(), faults) << boost::json::serialize(chaos);
  for (const auto& f : chaos) {
    EXPECT_FALSE(f.as_object().contains("error")) << boost::json::serialize(f);
    const auto& rec = f.at("recovery").as_object();
    for (const char* key : {"time_to_detect_s", "time_to_recover_s", "degraded_s", "errors_during",
                            "unknown_operations_during", "p99_baseline_ms"}) {
      EXPECT_TRUE(rec.contains(key)) << key << " in " << boost::json::serialize(rec);
    }
  }
}

}  // namespace stampede::testing::drill_e2e
