// Interop with an independent HdrHistogram implementation: hdr-histogram-js (a port of the Java
// reference), run by node from tests/interop. Both directions: histograms we encode are decoded there,
// and histograms encoded there are decoded here; percentiles, min, max, mean, stddev and the percentile
// distribution must agree. Skipped (with the reason) when node or tests/interop/node_modules is missing;
// scripts/setup.sh runs `npm ci` there.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/hdr_histogram.h"

#ifndef STAMPEDE_INTEROP_DIR
#error "STAMPEDE_INTEROP_DIR must name tests/interop"
#endif

namespace stampede {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const std::vector<double> percentiles_to_check = {0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 99.999, 100};

struct command_result {
  int exit_code = -1;
  std::string output;
};

// Runs a shell command (bounded by coreutils `timeout`) and captures its stdout.
command_result run(const std::string& command) {
  command_result result;
  FILE* pipe = ::popen(("timeout 60 " + command).c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[65536];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class HdrInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = STAMPEDE_INTEROP_DIR;
    if (!fs::exists(dir_ / "node_modules" / "hdr-histogram-js")) {
      GTEST_SKIP() << "hdr-histogram-js is not installed: run `npm ci` in " << dir_.string()
                   << " (scripts/setup.sh does) to enable the interop check";
    }
    if (run("node --version").exit_code != 0) GTEST_SKIP() << "node is not on PATH; interop check skipped";
  }

  std::string node(const std::string& args) const {
    return "node '" + (dir_ / "hdr_interop.js").string() + "' " + args;
  }

  fs::path dir_;
};

json::object describe(const std::string& name, const hdr_histogram& h) {
  json::array percentiles;
  for (const double p : percentiles_to_check) percentiles.push_back(json::array{p, h.value_at_percentile(p)});
  return json::object{{"name", name},
                      {"base64", h.encode_compressed_base64()},
                      {"total_count", h.total_count()},
                      {"min", h.min()},
                      {"max", h.max()},
                      {"percentiles", std::move(percentiles)}};
}

TEST_F(HdrInterop, OurEncodingDecodesInHdrHistogramJs) {
  json::array cases;
  {
    hdr_histogram h;
    std::mt19937_64 rng(11);
    std::lognormal_distribution<double> dist(7.5, 1.8);
    for (int i = 0; i < 100'000; ++i) h.record(static_cast<int64_t>(dist(rng)));
    cases.push_back(describe("lognormal_us", h));
  }
  {
    hdr_histogram h(1, 1'000'000'000'000, 2);
    for (int64_t v = 1; v < 1'000'000'000'000; v *= 3) h.record(v);
    cases.push_back(describe("sparse_2digits", h));
  }
  cases.push_back(describe("empty", hdr_histogram{}));
  {
    hdr_histogram h;
    h.record(0);
    cases.push_back(describe("single_zero", h));
  }
  {
    hdr_histogram h;
    h.record_n(42, int64_t{1} << 50);  // needs 8 varint bytes; still exact in a JS number
    h.record_n(3'000'000'000, 12'345);
    cases.push_back(describe("huge_counts", h));
  }
  for (int digits = 1; digits <= 5; ++digits) {
    hdr_histogram h(1000, 60'000'000'000, digits);
    std::mt19937_64 rng(static_cast<uint64_t>(digits));
    std::uniform_int_distribution<int64_t> dist(0, 60'000'000'000);
    for (int i = 0; i < 5000; ++i) h.record(dist(rng));
    cases.push_back(describe("digits_" + std::to_string(digits), h));
  }

  const fs::path input = fs::temp_directory_path() / ("hdr_interop_" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(input);
    out << json::serialize(cases);
  }
  const auto result = run(node("check < '" + input.string() + "'"));
  fs::remove(input);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto report = json::parse(result.output).as_object();
  EXPECT_EQ(report.at("checked").as_int64(), static_cast<int64_t>(cases.size()));
  EXPECT_TRUE(report.at("failures").as_array().empty()) << result.output;
}

struct distribution_line {
  double value;
  double percentile;
  int64_t count;
};

// Our CLASSIC text: skip the two header lines and the three footer lines.
std::vector<distribution_line> parse_classic(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::vector<distribution_line> out;
  for (size_t i = 2; i + 3 < lines.size(); ++i) {
    distribution_line l{};
    long long count = 0;
    EXPECT_EQ(std::sscanf(lines[i].c_str(), "%lf %lf %lld", &l.value, &l.percentile, &count), 3) << lines[i];
    l.count = count;
    out.push_back(l);
  }
  return out;
}

// Java's CSV text: a header line, then value,percentile,count,inverse.
std::vector<distribution_line> parse_csv(const std::string& text) {
  std::vector<distribution_line> out;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    distribution_line l{};
    long long count = 0;
    EXPECT_EQ(std::sscanf(line.c_str(), "%lf,%lf,%lld", &l.value, &l.percentile, &count), 3) << line;
    l.count = count;
    out.push_back(l);
  }
  return out;
}

TEST_F(HdrInterop, HdrHistogramJsEncodingDecodesHere) {
  const auto result = run(node("generate"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto cases = json::parse(result.output).as_array();
  ASSERT_EQ(cases.size(), 5u);
  for (const auto& item : cases) {
    const auto& c = item.as_object();
    const std::string name(c.at("name").as_string());
    SCOPED_TRACE(name);
    const auto h = hdr_histogram::decode_base64(c.at("base64").as_string());
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->total_count(), json::value_to<int64_t>(c.at("total_count")));
    EXPECT_EQ(h->min(), json::value_to<int64_t>(c.at("min")));
    EXPECT_EQ(h->max(), json::value_to<int64_t>(c.at("max")));
    const double mean = json::value_to<double>(c.at("mean"));
    const double stddev = json::value_to<double>(c.at("stddev"));
    EXPECT_NEAR(h->mean(), mean, std::abs(mean) * 1e-12);
    EXPECT_NEAR(h->stddev(), stddev, std::abs(stddev) * 1e-9);
    for (const auto& pv : c.at("percentiles").as_array()) {
      const double p = json::value_to<double>(pv.as_array()[0]);
      EXPECT_EQ(h->value_at_percentile(p), json::value_to<int64_t>(pv.as_array()[1])) << "p" << p;
    }
    // Re-encoding what the JS side wrote and decoding it again loses nothing.
    const auto again = hdr_histogram::decode(h->encode_compressed());
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(*again, *h);

    if (h->total_count() == 0) continue;  // Java prints no lines for an empty histogram
    // Same percentile iteration as the Java reference: same levels, values and cumulative counts.
    const auto theirs = parse_csv(std::string(c.at("hgrm_csv").as_string()));
    const auto ours = parse_classic(h->percentile_distribution(5, 1.0));
    ASSERT_EQ(ours.size(), theirs.size());
    for (size_t i = 0; i < ours.size(); ++i) {
      EXPECT_EQ(ours[i].value, theirs[i].value) << "line " << i;
      EXPECT_NEAR(ours[i].percentile, theirs[i].percentile, 1e-6) << "line " << i;
      EXPECT_EQ(ours[i].count, theirs[i].count) << "line " << i;
    }
  }
}

}  // namespace
}  // namespace stampede
