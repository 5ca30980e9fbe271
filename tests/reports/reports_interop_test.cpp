// Reports checked by independent readers: the .hlog by hdr-histogram-js's HistogramLogReader under Node,
// the HTML page by headless Chromium over the DevTools protocol (console errors, network requests, charts,
// screenshot). Skipped when node, the npm modules or chromium are missing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <sys/wait.h>

#include "common/hdr_histogram.h"
#include "reports/formats.h"
#include "reports/results.h"
#include "synthetic_results.h"

namespace stampede::reports {
namespace {

namespace fs = std::filesystem;

const fs::path interop_dir = STAMPEDE_INTEROP_DIR;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a command bounded by timeout(1); returns its exit status and stdout.
int run(const std::string& command, std::string& out, const fs::path& scratch) {
  fs::path capture = scratch / "stdout.txt";
  int status = std::system(("timeout 60 " + command + " > " + shell_quote(capture.string()) + " 2> " +
                            shell_quote((scratch / "stderr.txt").string()))
                               .c_str());
  out = read_file(capture);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool have_node() { return std::system("node --version > /dev/null 2>&1") == 0; }

fs::path scratch_dir(const std::string& name) {
  fs::path dir = fs::path(::testing::TempDir()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(reports_interop_test, hlog_read_by_hdr_histogram_js_gives_same_percentiles) {
  if (!have_node() || !fs::exists(interop_dir / "node_modules" / "hdr-histogram-js")) {
    GTEST_SKIP() << "node or tests/interop/node_modules missing (npm ci in tests/interop)";
  }
  fs::path dir = scratch_dir("reports_hlog_interop");
  auto run_def = testing::game_day_run(11);
  run_def.start_unix_ms = 1795330812345;
  run_results r = parse_results(testing::build_results_text(run_def));
  std::ofstream(dir / "run.hlog") << render_hlog(r);
  std::string out;
  ASSERT_EQ(run("node " + shell_quote((interop_dir / "reports_hlog_check.js").string()) + " " +
                    shell_quote((dir / "run.hlog").string()) + " 0,50,90,99,99.9,99.99,100",
                out, dir),
            0)
      << read_file(dir / "stderr.txt");
  auto js = boost::json::parse(out).as_object();
  auto check = [&](const std::string& tag, const std::string& encoded) {
    SCOPED_TRACE(tag);
    ASSERT_TRUE(js.contains(tag));
    auto h = hdr_histogram::decode_base64(encoded);
    ASSERT_TRUE(h);
    const auto& t = js.at(tag).as_object();
    EXPECT_EQ(t.at("count").to_number<int64_t>(), h->total_count());
    EXPECT_EQ(t.at("intervals").to_number<int64_t>(), 60);
    // The reader applied BaseTime: absolute start of the first interval.
    EXPECT_EQ(t.at("start_ms").to_number<int64_t>(), 1795330812345);
    const std::pair<const char*, double> percentiles[] = {{"0", 0},   {"50", 50},       {"90", 90},  {"99", 99},
                                                          {"99.9", 99.9}, {"99.99", 99.99}, {"100", 100}};
    for (const auto& [key, p] : percentiles) {
      auto it = t.at("percentiles").as_object().find(key);
      ASSERT_NE(it, t.at("percentiles").as_object().end()) << key;
      EXPECT_EQ(it->value().to_number<int64_t>(), h->value_at_percentile(p)) << "p" << p;
    }
  };
  check("NO TAG", r.summary.histogram);
  check("GET_api_products_id", r.steps[0].histogram);
  check("POST_api_cart", r.steps[1].histogram);
  check("group.checkout", r.steps[2].histogram);
}

bool have_chromium() { return fs::exists("/usr/bin/chromium"); }

struct page_check {
  boost::json::object result;
  bool ok = false;
};

page_check load_in_chromium(const fs::path& page, const fs::path& png, const fs::path& dir) {
  page_check c;
  std::string out;
  int rc = run("node " + shell_quote((interop_dir / "reports_chromium_check.js").string()) + " /usr/bin/chromium " +
                   shell_quote(page.string()) + " " + shell_quote(png.string()),
               out, dir);
  if (rc != 0) {
    ADD_FAILURE() << "chromium check failed (" << rc << "): " << read_file(dir / "stderr.txt");
    return c;
  }
  c.result = boost::json::parse(out).as_object();
  c.ok = true;
  return c;
}

TEST(reports_interop_test, html_loads_in_headless_chromium_without_errors) {
  if (!have_node() || !have_chromium()) GTEST_SKIP() << "node or /usr/bin/chromium missing (apt-get install chromium)";
  fs::path dir = scratch_dir("reports_chromium");
  // Negative control: the harness must see a script error when there is one.
  std::ofstream(dir / "broken.html") << "<!DOCTYPE html><html><body><script>no_such_function()</script></body></html>";
  page_check broken = load_in_chromium(dir / "broken.html", dir / "broken.png", dir);
  ASSERT_TRUE(broken.ok);
  EXPECT_FALSE(broken.result.at("errors").as_array().empty());

  run_results r = parse_results(testing::build_results_text(testing::game_day_run()));
  std::ofstream(dir / "report.html") << render_html(r);
  // The screenshot goes into the build tree so a person can look at it.
  fs::path png = fs::path(STAMPEDE_SCREENSHOT_DIR) / "reports_game_day.png";
  page_check page = load_in_chromium(dir / "report.html", png, dir);
  ASSERT_TRUE(page.ok);
  EXPECT_TRUE(page.result.at("errors").as_array().empty()) << boost::json::serialize(page.result.at("errors"));
  EXPECT_TRUE(page.result.at("requests").as_array().empty()) << boost::json::serialize(page.result.at("requests"));
  EXPECT_EQ(page.result.at("svg").to_number<int64_t>(), 5);        // 4 time charts + distribution
  EXPECT_GE(page.result.at("polylines").to_number<int64_t>(), 10);  // every series drawn
  EXPECT_EQ(page.result.at("fault_bands").to_number<int64_t>(), 4);
  EXPECT_EQ(page.result.at("title").as_string(), "Stampede report: scenarios/game_day.lua");
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 50'000u);  // a rendered page, not a blank one
  std::string header = read_file(png).substr(0, 8);
  EXPECT_EQ(header, std::string("\x89PNG\r\n\x1a\n", 8));
}

}  // namespace
}  // namespace stampede::reports
