// The shard game days in the reports (reports/shard_report.h): a run's cross-shard orders per outcome and
// in-doubt figures in Markdown and HTML (2pc, and a saga's "-" where a figure does not apply), and nothing
// for results without results.drill.shards.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "reports/formats.h"
#include "reports/shard_report.h"
#include "synthetic_results.h"

namespace {

namespace json = boost::json;
using namespace stampede::reports;
namespace synthetic = stampede::reports::testing;

run_results with_shards(const char* shards) {
  json::value doc = json::parse(synthetic::build_results_text(synthetic::game_day_run()));
  doc.as_object()["drill"] = json::object{{"shards", json::parse(shards)}};
  return parse_results(json::serialize(doc));
}

const char* const two_phase = R"({"txn":"2pc","shards":2,"audit_read":true,
  "orders":{"committed":105,"aborted":2,"compensated":null,"resolved_by_recovery":3,"in_doubt":0},
  "in_doubt":{"transactions":14,"stuck":5,"stuck_threshold_s":1.0,"max_s":4.21,"stuck_total_s":17.5,
              "unresolved":0,"lease_s":3.0,"sample_interval_ms":250,"samples":139,"failed_samples":16,"longest":[]}})";

TEST(reports_shards, a_two_phase_run_shows_its_outcomes_and_in_doubt_seconds) {
  const auto r = with_shards(two_phase);
  const std::string md = render_shards_markdown(r);
  EXPECT_NE(md.find("### Cross-shard transactions"), std::string::npos) << md;
  EXPECT_NE(md.find("| committed | aborted | compensated | resolved by recovery | still in doubt |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| 105 | 2 | - | 3 | 0 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 14 | 5 | 4.2 s | 17.5 s | 0 | 3 s |"), std::string::npos) << md;
  EXPECT_NE(md.find("--txn 2pc, 2 shards"), std::string::npos) << md;
  EXPECT_NE(render_markdown(r).find("### Cross-shard transactions"), std::string::npos);
  const std::string html = render_html(r);
  EXPECT_NE(html.find("<table id=\"shard-outcomes\">"), std::string::npos);
  EXPECT_NE(html.find("<table id=\"shard-in-doubt\">"), std::string::npos);
  EXPECT_NE(html.find("<td>105</td><td>2</td><td>-</td><td>3</td><td>0</td>"), std::string::npos);
}

TEST(reports_shards, results_without_the_section_render_nothing) {
  const auto r = parse_results(synthetic::build_results_text(synthetic::game_day_run()));
  EXPECT_EQ(render_shards_markdown(r), "");
  EXPECT_EQ(render_shards_html(r), "");
  EXPECT_EQ(render_markdown(r).find("Cross-shard"), std::string::npos);
}

}  // namespace
