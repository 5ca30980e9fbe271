// Golden and structural tests of every report format. Regenerate the golden files after an intended change
// with: STAMPEDE_UPDATE_GOLDEN=1 ./reports_formats_test
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <boost/json/parse.hpp>

#include "common/hdr_histogram.h"
#include "reports/analysis.h"
#include "reports/cli.h"
#include "reports/formats.h"
#include "reports/results.h"
#include "synthetic_results.h"

namespace stampede::reports {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void expect_golden(const std::string& name, const std::string& actual) {
  fs::path path = fs::path(STAMPEDE_GOLDEN_DIR) / name;
  if (std::getenv("STAMPEDE_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path, std::ios::binary) << actual;
    GTEST_SKIP() << "updated " << path;
  }
  ASSERT_TRUE(fs::exists(path)) << path << " missing; run with STAMPEDE_UPDATE_GOLDEN=1";
  std::string expected = read_file(path);
  EXPECT_EQ(expected, actual) << "output differs from " << path;
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
  return n;
}

class formats_test : public ::testing::Test {
 protected:
  run_results game_day = parse_results(testing::build_results_text(testing::game_day_run()));
};

TEST_F(formats_test, markdown_golden_and_verdict_first) {
  std::string md = render_markdown(game_day);
  EXPECT_EQ(md.rfind("## ❌ FAIL: 1 of 2 thresholds crossed; 2 of 2 invariants held", 0), 0u) << md.substr(0, 200);
  EXPECT_NE(md.find("| ❌ | `http_req_failed` | `rate<0.01` | 0.06 |"), std::string::npos);
  EXPECT_NE(md.find("### Faults and recovery"), std::string::npos);
  expect_golden("game_day.md", md);
}

TEST_F(formats_test, junit_has_one_case_per_threshold_and_invariant) {
  std::string x = render_junit(game_day);
  EXPECT_EQ(count(x, "<testcase "), 4u);
  EXPECT_EQ(count(x, "<failure "), 1u);
  EXPECT_NE(x.find("<testsuites name=\"stampede\" tests=\"4\" failures=\"1\""), std::string::npos);
  EXPECT_NE(x.find("name=\"http_req_failed rate&lt;0.01\""), std::string::npos);
  expect_golden("game_day.junit.xml", x);
}

TEST_F(formats_test, hgrm_matches_hdr_histogram_and_golden) {
  std::string all = render_hgrm(game_day);
  auto h = hdr_histogram::decode_base64(game_day.summary.histogram);
  ASSERT_TRUE(h);
  EXPECT_EQ(all, h->percentile_distribution(5, 1000.0));
  EXPECT_NE(all.find("Value   Percentile   TotalCount 1/(1-Percentile)"), std::string::npos);
  EXPECT_NE(all.find("Total count    ="), std::string::npos);
  EXPECT_NE(render_hgrm(game_day, "POST /api/cart"), all);
  EXPECT_NE(render_hgrm(game_day, {}, true), all);
  EXPECT_THROW(render_hgrm(game_day, "no such step"), results_error);
  expect_golden("game_day.hgrm", all);
}

TEST_F(formats_test, hlog_lines_decode_and_add_up_per_tag) {
  std::string log = render_hlog(game_day);
  std::istringstream in(log);
  std::string line;
  std::map<std::string, int64_t> per_tag;
  int comments = 0, data = 0;
  bool legend = false;
  while (std::getline(in, line)) {
    if (line.rfind("#", 0) == 0) {
      ++comments;
      continue;
    }
    if (line.rfind("\"StartTimestamp\",\"Interval_Length\"", 0) == 0) {
      legend = true;
      continue;
    }
    ++data;
    std::string tag;
    if (line.rfind("Tag=", 0) == 0) {
      tag = line.substr(4, line.find(',') - 4);
      line = line.substr(line.find(',') + 1);
    }
    // start,length,max,base64
    std::vector<std::string> fields;
    std::stringstream fs_(line);
    for (std::string f; std::getline(fs_, f, ',');) fields.push_back(f);
    ASSERT_EQ(fields.size(), 4u) << line;
    EXPECT_EQ(fields[1], "1.000");
    auto h = hdr_histogram::decode_base64(fields[3]);
    ASSERT_TRUE(h) << line;
    EXPECT_NEAR(std::stod(fields[2]), static_cast<double>(h->max()) / 1000.0, 0.0005);
    per_tag[tag] += h->total_count();
  }
  EXPECT_TRUE(legend);
  EXPECT_GE(comments, 4);
  EXPECT_EQ(data, 60 * 4);  // 60 s x (untagged + 2 requests + 1 group)
  EXPECT_EQ(per_tag[""], game_day.summary.requests);
  EXPECT_EQ(per_tag["GET_api_products_id"], game_day.steps[0].requests);
  EXPECT_EQ(per_tag["POST_api_cart"], game_day.steps[1].requests);
  EXPECT_EQ(per_tag["group.checkout"], game_day.steps[2].requests);
  EXPECT_NE(log.find("#[Histogram log format version 1.3]"), std::string::npos);
  EXPECT_NE(log.find("#[StartTime: 1795330800.000 (seconds since epoch)"), std::string::npos);
  expect_golden("game_day.hlog", log);
}

// A tag set a threshold asked for (a "tagged" step repeating some requests) and a custom time trend: both are
// listed, the tagged step is never added into "all requests", the trend is one whole-run .hlog line.
TEST_F(formats_test, tagged_steps_and_custom_metrics_are_listed_but_not_summed) {
  run_results r = game_day;
  step_result tagged = r.steps[0];
  tagged.name = "{status:200}";
  tagged.kind = "tagged";
  r.steps.push_back(tagged);
  std::vector<interval_row> repeated;
  for (const auto& row : r.intervals) {
    if (row.step == r.steps[0].name) repeated.push_back(row);
  }
  for (auto& row : repeated) row.step = "{status:200}";
  r.intervals.insert(r.intervals.end(), repeated.begin(), repeated.end());
  hdr_histogram h(1, 1'000'000'000'000'000, 3);
  for (int v = 1; v <= 50; ++v) h.record(v * 1000);
  results::metric_result trend;
  trend.name = trend.metric = "login_time";
  trend.type = "trend";
  trend.is_time = true;
  trend.samples = 50;
  trend.histogram = h.encode_compressed_base64();
  trend.stats = results::latency_stats::of(h);
  results::metric_result counter;
  counter.name = counter.metric = "orders";
  counter.type = "counter";
  counter.samples = 3;
  counter.count = 3;
  r.metrics = {trend, counter};

  const std::string log = render_hlog(r);
  int64_t untagged = 0, metric_line = 0;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line[0] == '"') continue;
    const std::string encoded = line.substr(line.rfind(',') + 1);
    if (line.rfind("Tag=", 0) != 0) untagged += hdr_histogram::decode_base64(encoded)->total_count();
    if (line.rfind("Tag=metric.login_time,", 0) == 0) metric_line += hdr_histogram::decode_base64(encoded)->total_count();
  }
  EXPECT_EQ(untagged, r.summary.requests);  // the tagged step's intervals are not added again
  EXPECT_EQ(metric_line, 50);
  const std::string md = render_markdown(r);
  EXPECT_NE(md.find("| tagged {status:200} |"), std::string::npos);
  EXPECT_NE(md.find("### Custom metrics"), std::string::npos);
  EXPECT_NE(md.find("| login_time | trend | avg 25.5 ms"), std::string::npos) << md;
  EXPECT_NE(md.find("| orders | counter | 3 "), std::string::npos);
  const std::string html = render_html(r);
  EXPECT_NE(html.find("<table id=\"metrics\">"), std::string::npos);
  EXPECT_NE(html.find("<small>tagged</small> {status:200}"), std::string::npos);
}

TEST_F(formats_test, json_summary_carries_verdict_and_recovery) {
  std::string j = render_json(game_day);
  auto v = boost::json::parse(j);
  EXPECT_EQ(v.at("verdict"), "fail");
  const auto& faults = v.at("faults").as_array();
  ASSERT_EQ(faults.size(), 1u);
  // Latency x3 until 33 s, healthy afterwards: recovered 3 s after the fault ended.
  EXPECT_EQ(faults[0].at("time_to_recover_s").as_double(), 3.0);
  EXPECT_EQ(faults[0].at("time_to_detect_s").as_double(), 0.0);
  EXPECT_EQ(faults[0].at("time_to_first_success_s").as_double(), 0.0);
  EXPECT_EQ(faults[0].at("degraded_seconds").as_int64(), 13);
  EXPECT_GT(faults[0].at("p99_during_ms").as_double(), 5 * faults[0].at("p99_baseline_ms").as_double());
  expect_golden("game_day.json", j);
}

TEST_F(formats_test, html_is_self_contained_with_all_charts) {
  std::string html = render_html(game_day);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find(" src="), std::string::npos);
  // The only link is the empty data: favicon (keeps browsers from fetching /favicon.ico).
  EXPECT_EQ(count(html, "href="), 1u);
  EXPECT_NE(html.find("href=\"data:,\""), std::string::npos);
  for (const char* id : {"chart-throughput", "chart-latency", "chart-errors", "chart-vus", "chart-distribution",
                         "id=\"steps\"", "id=\"recovery\"", "id=\"thresholds\"", "id=\"invariants\"",
                         "id=\"corrected-vs-uncorrected\""}) {
    EXPECT_NE(html.find(id), std::string::npos) << id;
  }
  // The verdict comes before any chart.
  EXPECT_LT(html.find("id=\"verdict\""), html.find("<svg"));
  // One labelled fault band on each of the four time charts.
  EXPECT_EQ(count(html, "<g class=\"fault\">"), 4u);
  EXPECT_EQ(count(html, "latency +200ms shop-node-1</text>"), 4u);
  expect_golden("game_day.html", html);
}

TEST_F(formats_test, html_escapes_hostile_names) {
  auto run = testing::lognormal_run(3, 5, 10, {"<script>alert(1)</script>", "a\"b&c"});
  run.faults.push_back({"kill", "x", "</text><script>", 1.0, 2.0});
  auto r = parse_results(testing::build_results_text(run));
  std::string html = render_html(r);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  std::string x = render_junit(r);
  EXPECT_EQ(x.find("<script"), std::string::npos);
  std::string md = render_markdown(r);
  EXPECT_EQ(md.find("<script"), std::string::npos);
}

TEST_F(formats_test, long_runs_are_downsampled_in_html) {
  auto run = testing::lognormal_run(5, 3600, 2, {"GET /"});
  auto r = parse_results(testing::build_results_text(run));
  std::string html = render_html(r);
  EXPECT_NE(html.find("(4 s buckets"), std::string::npos);
  EXPECT_LT(html.size(), 600u * 1024u);
}

TEST_F(formats_test, write_report_directory_writes_every_format) {
  fs::path dir = fs::path(::testing::TempDir()) / "reports_formats_dir";
  fs::remove_all(dir);
  auto files = write_report_directory(game_day.document, dir);
  for (const char* f : {"report.html", "summary.md", "junit.xml", "summary.json", "results.hlog", "latency.hgrm",
                        "latency.uncorrected.hgrm", "hgrm/GET_api_products_id.hgrm", "hgrm/POST_api_cart.hgrm",
                        "hgrm/group.checkout.hgrm", "hgrm/POST_api_cart.uncorrected.hgrm"}) {
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  }
  EXPECT_EQ(files.size(), 13u);
  EXPECT_EQ(read_file(dir / "summary.md"), render_markdown(game_day));
}

TEST_F(formats_test, report_command_exit_codes) {
  fs::path dir = fs::path(::testing::TempDir()) / "reports_cli";
  fs::create_directories(dir);
  std::ofstream(dir / "r.json") << testing::build_results_text(testing::game_day_run());
  std::ofstream(dir / "bad.json") << "{\"schema\":\"stampede-results\",\"version\":1,\"summary\":{\"requests\":\"x\"}}";
  std::ofstream(dir / "newer.json") << "{\"schema\":\"stampede-results\",\"version\":2,\"summary\":{}}";
  auto run = [](std::vector<std::string> args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return report_command(argv);
  };
  std::string in = (dir / "r.json").string();
  EXPECT_EQ(run({"report", in, "-o", (dir / "out.html").string()}), exit_ok);
  EXPECT_EQ(read_file(dir / "out.html"), render_html(game_day));
  EXPECT_EQ(run({"report", in, "--format", "junit", "-o", (dir / "out.txt").string()}), exit_ok);
  EXPECT_EQ(read_file(dir / "out.txt"), render_junit(game_day));
  EXPECT_EQ(run({"report", in, "--format", "hgrm", "--step", "POST /api/cart", "-o", (dir / "s.hgrm").string()}),
            exit_ok);
  EXPECT_EQ(read_file(dir / "s.hgrm"), render_hgrm(game_day, "POST /api/cart"));
  EXPECT_EQ(run({"report", in, "--format", "pdf"}), exit_usage);
  EXPECT_EQ(run({"report"}), exit_usage);
  EXPECT_EQ(run({"report", in, "--bogus"}), exit_usage);
  EXPECT_EQ(run({"report", (dir / "missing.json").string()}), exit_input);
  EXPECT_EQ(run({"report", (dir / "bad.json").string()}), exit_input);
  EXPECT_EQ(run({"report", (dir / "newer.json").string()}), exit_input);
  EXPECT_EQ(run({"report", in, "--format", "hgrm", "--step", "nope"}), exit_input);
  EXPECT_EQ(run({"report", in, "-o", (dir / "no/such/dir/x.md").string()}), exit_output);
}

TEST(results_parse_test, rejects_bad_documents_with_clear_messages) {
  auto message = [](std::string_view text) {
    try {
      parse_results(text);
    } catch (const results_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("nope").find("not valid JSON"), std::string::npos);
  EXPECT_NE(message("[]").find("expected an object"), std::string::npos);
  EXPECT_NE(message("{\"schema\":\"k6\"}").find("not a stampede results file"), std::string::npos);
  EXPECT_NE(message("{\"schema\":\"stampede-results\",\"version\":7,\"summary\":{}}").find("newer"), std::string::npos);
  EXPECT_NE(message("{\"schema\":\"stampede-results\",\"version\":1}").find("summary"), std::string::npos);
  EXPECT_NE(message("{\"schema\":\"stampede-results\",\"version\":1,\"summary\":{},\"steps\":[{\"name\":\"a\",\"requests\":-1}]}")
                .find("negative"),
            std::string::npos);
  EXPECT_NE(message("{\"schema\":\"stampede-results\",\"version\":1,\"summary\":{},\"chaos\":[{\"kind\":\"x\"}]}")
                .find("chaos[0]"),
            std::string::npos);
  EXPECT_EQ(message("{\"schema\":\"stampede-results\",\"version\":1,\"summary\":{}}"), "no error");
}

}  // namespace
}  // namespace stampede::reports
