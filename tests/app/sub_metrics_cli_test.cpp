// Sub-metrics and custom metrics through the real `stampede` binary: two shards of a run with thresholds on
// iteration_duration/iterations/checks by scenario and on custom metrics, merged (thresholds re-evaluated on
// the shards' recorded sub-metrics), then compared: unchanged runs pass, a slower custom trend fails (exit
// 1).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

struct output {
  std::string text;  // stdout and stderr
  int code = -1;
};

output stampede(const std::vector<std::string>& args) {
  std::string command = STAMPEDE_BINARY;
  for (const auto& a : args) command += " '" + a + "'";
  command += " 2>&1 </dev/null";
  output out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.text.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  out.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

json::value read_json(const fs::path& path) {
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return json::parse(text);
}

// 2 VUs x 5 iterations of "browse" (1 VU per shard of 2); each iteration adds `step_ms` x SCALE to a time
// trend, one order and one check that passes, then sleeps 50 ms.
constexpr const char* script = R"lua(
local step_ms = metrics.trend("step_ms", true)
local orders = metrics.counter("orders")
options = {
  scenarios = { browse = { executor = "per-vu-iterations", vus = 2, iterations = 5 } },
  thresholds = {
    ["iteration_duration{scenario:browse}"] = { "p(99)<60000" },
    ["iterations{scenario:browse}"] = { "count==10" },       -- holds only on the merged shards
    ["checks{scenario:browse}"] = { "rate==1" },
    ["orders"] = { "count>0" },
  },
}
function default()
  local scale = tonumber(env.SCALE or "1")
  for i = 1, 20 do step_ms:add(i * scale) end
  orders:add(1)
  check(1, { ok = function() return true end })
  sleep(0.05)  -- the run lasts ~0.25 s, so that rates per second are steady from run to run
end
)lua";

class sub_metrics_cli : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stampede-sub-metrics-test-" + std::to_string(::getpid()) + "-" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    std::ofstream(dir_ / "browse.lua") << script;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // One shard's results; exit 99: iterations{scenario:browse} counts 5 in a shard.
  fs::path shard(int index, const std::string& name, const std::string& scale = "1") {
    const fs::path out = dir_ / name;
    const auto r = stampede({"run", (dir_ / "browse.lua").string(), "--threads=1", "--seed=3", "-q",
                             "--shard=" + std::to_string(index) + "/2", "-e", "SCALE=" + scale,
                             "--out=" + out.string()});
    EXPECT_EQ(r.code, 99) << r.text;
    return out;
  }

  fs::path dir_;
};

TEST_F(sub_metrics_cli, merge_re_evaluates_sub_metric_thresholds_and_compare_judges_custom_metrics) {
  const fs::path a = shard(0, "a.json"), b = shard(1, "b.json");
  const fs::path merged = dir_ / "merged.json";
  auto r = stampede({"merge", a.string(), b.string(), "-o", merged.string()});
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_EQ(r.text.find("not re-evaluated"), std::string::npos) << r.text;
  std::map<std::string, json::object> thresholds;
  const json::value document = read_json(merged);
  for (const auto& t : document.at("thresholds").as_array()) {
    thresholds[std::string(t.at("metric").as_string())] = t.as_object();
  }
  ASSERT_EQ(thresholds.size(), 4u);
  for (const auto& [metric, t] : thresholds) {
    EXPECT_TRUE(t.at("ok").as_bool()) << metric << " " << json::serialize(t);
    EXPECT_TRUE(t.at("re_evaluated").as_bool()) << metric;
  }
  EXPECT_EQ(thresholds.at("iterations{scenario:browse}").at("observed").to_number<double>(), 10);
  EXPECT_EQ(thresholds.at("orders").at("observed").to_number<double>(), 10);

  // The same runs again: no regression, custom metrics compared in their own table.
  const fs::path a2 = shard(0, "a2.json");
  r = stampede({"compare", a.string(), a2.string()});
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("### Custom metrics"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("| step_ms | trend | p99 (ms) | 20.0 | 20.0 | 0% |"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("| checks{scenario:browse} | rate | rate | 100% | 100% | 0pp |"), std::string::npos);
  EXPECT_NE(r.text.find("its thresholds in current give no direction (== or !=)"), std::string::npos);
  // Every step_ms value 3 times larger: a regression of the custom trend, whatever the requests did.
  const fs::path slow = shard(0, "slow.json", "3");
  const fs::path junit = dir_ / "compare.xml";
  r = stampede({"compare", a.string(), slow.string(), "--junit", junit.string()});
  EXPECT_EQ(r.code, 1) << r.text;
  EXPECT_NE(r.text.find("| step_ms | trend | p99 (ms) | 20.0 | 60.0 | +199.9% |"), std::string::npos)
      << r.text;
  std::ifstream xml(junit);
  const std::string x((std::istreambuf_iterator<char>(xml)), std::istreambuf_iterator<char>());
  EXPECT_NE(x.find("name=\"metric step_ms: p99\""), std::string::npos) << x;
}

}  // namespace
