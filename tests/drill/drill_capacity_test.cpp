// `stampede capacity` against a target whose capacity is known by construction: K service slots with a
// fixed service time S (an M/D/K-like queue; requests beyond the free slots wait), so it completes at most
// K/S requests per second and latency grows without bound above that. The search must find the knee
// within 15%. Also: a target that falls off a cliff (the stage must end at --stage, not 30 s later, and the
// hint must say that arrivals were dropped), the generator's own descriptor limit (the real binary under
// `ulimit -n`), output files that cannot be written, SLO parsing, stage judgement, the recommended rate
// and the chart.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>
#include <thread>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <mutex>
#include <vector>

#include <boost/json.hpp>

#include "common/http_server.h"
#include "drill/capacity.h"
#include "tests/support/child_process.h"
#include "tests/support/sanitizers.h"

extern char** environ;

namespace {

namespace json = boost::json;
using clock_type = std::chrono::steady_clock;

class known_capacity_server {
 public:
  known_capacity_server(int slots, std::chrono::milliseconds service)
      : service_(service), free_at_(static_cast<size_t>(slots), clock_type::now()),
        server_({}, [this](stampede::http::request&, stampede::http::responder reply) { handle(std::move(reply)); }) {
    server_.start();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }

 private:
  void handle(stampede::http::responder reply) {
    clock_type::time_point finish;
    const auto now = clock_type::now();
    {
      std::lock_guard lock(mutex_);
      auto slot = std::min_element(free_at_.begin(), free_at_.end());
      finish = std::max(now, *slot) + service_;
      *slot = finish;
    }
    reply.after(std::chrono::ceil<std::chrono::milliseconds>(finish - now), stampede::http::response::text(200, "ok"));
  }

  std::chrono::milliseconds service_;
  std::mutex mutex_;
  std::vector<clock_type::time_point> free_at_;
  stampede::http::server server_;
};

// Answers in 1 ms until a wall-clock second brings more than `per_second` requests; from then on, while
// requests keep coming beyond that bound, answers take 20 s: a target that falls off a cliff (as a shop
// whose connection pool runs dry), so VUs pile up and arrivals are dropped.
class cliff_server {
 public:
  explicit cliff_server(int per_second)
      : per_second_(per_second),
        server_({}, [this](stampede::http::request&, stampede::http::responder reply) { handle(std::move(reply)); }) {
    server_.start();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }

 private:
  void handle(stampede::http::responder reply) {
    const auto now = clock_type::now();
    bool slow = false;
    {
      std::lock_guard lock(mutex_);
      const auto second = std::chrono::duration_cast<std::chrono::seconds>(now - start_).count();
      if (second != second_) {
        second_ = second;
        count_ = 0;
      }
      if (++count_ > per_second_) overloaded_until_ = now + std::chrono::seconds{1};
      slow = now < overloaded_until_;
    }
    reply.after(slow ? std::chrono::milliseconds{20'000} : std::chrono::milliseconds{1}, stampede::http::response::text(200, "ok"));
  }

  int per_second_;
  std::mutex mutex_;
  clock_type::time_point start_ = clock_type::now();
  int64_t second_ = -1;
  int count_ = 0;
  clock_type::time_point overloaded_until_{};
  stampede::http::server server_;
};

// Runs `sh -c SCRIPT sh ARGS...` with stdout and stderr into `log`; the exit code, -1 when killed at the
// deadline.
int run_shell(const std::string& script, const std::vector<std::string>& args, const std::filesystem::path& log,
              std::chrono::seconds deadline) {
  std::vector<std::string> all{"/bin/sh", "-c", script, "sh"};
  all.insert(all.end(), args.begin(), args.end());
  return stampede::testing::run_bounded(all, log, deadline);
}

const json::object& stage_at(const json::value& doc, double rate) {
  for (const auto& s : doc.at("capacity").at("curve").as_array()) {
    if (s.at("rate").to_number<double>() == rate) return s.as_object();
  }
  throw std::runtime_error("no stage at " + std::to_string(rate));
}

TEST(capacity_slo, parses_terms_and_rejects_bad_ones) {
  auto slo = stampede::drill::parse_slo("p(99)<300, error_rate<0.01,avg<=50");
  ASSERT_EQ(slo.size(), 3u);
  EXPECT_EQ(slo[0].metric, "p");
  EXPECT_DOUBLE_EQ(slo[0].percentile, 99);
  EXPECT_DOUBLE_EQ(slo[0].bound, 300);
  EXPECT_EQ(slo[1].metric, "error_rate");
  EXPECT_FALSE(slo[2].strict);
  for (const char* bad : {"", "p(99)", "p(0)<3", "p(101)<3", "rps>3", "p(99)<abc", "<3"}) {
    EXPECT_THROW(stampede::drill::parse_slo(bad), std::invalid_argument) << bad;
  }
  // The terms are k6 threshold expressions (results/thresholds.h): errors name the term and say why.
  for (const char* bad : {"p(99)<abc", "p(99)>300", "med<3", "error_rate<=x"}) {
    try {
      stampede::drill::parse_slo(std::string("avg<100,") + bad);
      ADD_FAILURE() << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(stampede::drill::parse_slo("error_rate <= 0.05")[0].expression.op, stampede::results::comparison::less_equal);
}

TEST(capacity_slo, judges_a_stage_on_latency_errors_and_delivered_rate) {
  auto slo = stampede::drill::parse_slo("p(99)<100,error_rate<0.01");
  json::value r = json::parse(R"({"schema":"stampede-results","version":1,"meta":{"duration_s":2.0,"generator":{"saturated":false}},
    "summary":{"requests":200,"iterations":200,"error_rate":0.0,"dropped_iterations":0,
               "latency_ms":{"p50":10,"p99":50,"mean":12,"max":60}}})");
  EXPECT_TRUE(stampede::drill::judge_stage(r, 100, slo).ok);
  auto slow = stampede::drill::judge_stage(r, 100, stampede::drill::parse_slo("p(99)<40"));
  EXPECT_FALSE(slow.ok);
  EXPECT_NE(slow.failed.find("latency"), std::string::npos);
  auto behind = stampede::drill::judge_stage(r, 200, slo);  // 100 iterations/s delivered of 200 offered
  EXPECT_FALSE(behind.ok);
  EXPECT_NE(behind.failed.find("throughput"), std::string::npos);
  r.at("summary").as_object()["error_rate"] = 0.05;
  EXPECT_NE(stampede::drill::judge_stage(r, 100, slo).failed.find("errors"), std::string::npos);
}

TEST(capacity_search, finds_the_knee_of_a_known_capacity_target_within_15_percent) {
  // 4 slots x 20 ms = 200 requests/s.
  known_capacity_server target(4, std::chrono::milliseconds{20});
  stampede::testing::temp_dir temp("stampede-capacity");
  const auto& dir = temp.path();
  stampede::drill::capacity_request request;
  request.scenario = STAMPEDE_DRILL_TEST_SCENARIOS "/capacity_target.lua";
  request.target = target.url();
  request.slo_text = "p(99)<100,error_rate<0.01";
  request.start_rate = 50;
  request.max_rate = 1000;
  request.stage = std::chrono::milliseconds{1500};
  request.repeats = 2;
  request.precision = 0.05;
  request.quiet = true;
  request.out_path = (dir / "capacity.json").string();
  stampede::drill::capacity_outcome outcome;
  EXPECT_EQ(stampede::drill::run_capacity(request, &outcome), 0);
  EXPECT_NEAR(outcome.knee_rate, 200, 30) << outcome.limit_hint;
  EXPECT_FALSE(outcome.limit_hint.empty());
  // The results file holds the knee and the curve; the chart sits next to it.
  json::value doc = json::parse(stampede::testing::read_text(dir / "capacity.json"));
  EXPECT_DOUBLE_EQ(doc.at("capacity").at("knee_rate").to_number<double>(), outcome.knee_rate);
  EXPECT_GE(doc.at("capacity").at("curve").as_array().size(), 4u);
  EXPECT_EQ(doc.at("schema"), "stampede-results");
  EXPECT_TRUE(std::filesystem::exists(dir / "capacity.svg"));
}

// A stage past the cliff: requests take 20 s, every VU waits, arrivals are dropped. The stage must end soon
// after --stage (not after k6's 30 s graceful stop), the hint must say that arrivals were dropped because
// the target slowed down (not "queueing pushed it over the SLO"), and every stage's figures stay in the
// results.
TEST(capacity_search, a_collapsing_stage_ends_at_its_length_and_says_arrivals_were_dropped) {
  cliff_server target(120);
  stampede::testing::temp_dir dir("stampede-capacity-cliff");
  stampede::drill::capacity_request request;
  request.scenario = STAMPEDE_DRILL_TEST_SCENARIOS "/capacity_target.lua";
  request.target = target.url();
  request.slo_text = "p(99)<100,error_rate<0.01";
  request.start_rate = 50;
  request.max_rate = 200;
  request.stage = std::chrono::milliseconds{3000};
  request.repeats = 1;
  request.precision = 1.0;  // 50, 100, 200: no binary search
  request.quiet = true;
  request.out_path = (dir.path() / "cap.json").string();
  EXPECT_EQ(stampede::drill::run_capacity(request), 0);
  const json::value doc = json::parse(stampede::testing::read_text(dir.path() / "cap.json"));
  const json::object& cap = doc.at("capacity").as_object();
  // The best stage's results, with the run's identity (docs/RESULTS.md): 128 random bits in hex.
  EXPECT_TRUE(std::regex_match(std::string(doc.at("meta").at("run_id").as_string()), std::regex("[0-9a-f]{32}")));
  EXPECT_DOUBLE_EQ(cap.at("sustainable_rate").to_number<double>(), 100);
  EXPECT_EQ(cap.at("limited_by"), "target");
  const std::string hint(cap.at("limit_hint").as_string());
  EXPECT_NE(hint.find("dropped"), std::string::npos) << hint;
  EXPECT_EQ(hint.find("pushed it over"), std::string::npos) << hint;
  const json::object& cliff = stage_at(doc, 200);
  EXPECT_EQ(cliff.at("ok"), false);
  EXPECT_EQ(cliff.at("cause"), "dropped_iterations") << cliff.at("failed");
  EXPECT_GT(cliff.at("dropped_iterations").to_number<double>(), 6);
  EXPECT_GT(cliff.at("interrupted_iterations").to_number<double>(), 0);
  // 3 s of load, then a graceful stop of max(1 s, 2 x 100 ms): well under the 20 s the requests would take.
  EXPECT_LE(cliff.at("graceful_stop_s").to_number<double>(), 1.0);
  EXPECT_LT(cliff.at("duration_s").to_number<double>(), 3.0 + 1.0 + 1.5);
  for (const auto& stage : cap.at("curve").as_array()) {
    EXPECT_FALSE(stage.at("timeseries").as_array().empty());
    EXPECT_FALSE(stage.at("histogram").as_string().empty());
    EXPECT_TRUE(stage.as_object().contains("vus_cap"));
  }
  // A rate to plan with, below the sustainable one, and the rule that chose it.
  EXPECT_GT(cap.at("recommended_rate").to_number<double>(), 0);
  EXPECT_LE(cap.at("recommended_rate").to_number<double>(), 0.8 * 100 + 1e-9);
  EXPECT_FALSE(cap.at("recommendation").at("rule").as_string().empty());
}

TEST(capacity_output, an_unwritable_out_fails_before_the_search_with_exit_4) {
  known_capacity_server target(4, std::chrono::milliseconds{1});
  stampede::drill::capacity_request request;
  request.scenario = STAMPEDE_DRILL_TEST_SCENARIOS "/capacity_target.lua";
  request.target = target.url();
  request.start_rate = 20;
  request.max_rate = 40;
  request.stage = std::chrono::milliseconds{500};
  request.repeats = 1;
  request.quiet = true;
  request.out_path = "/nonexistent-stampede-dir/sub/cap.json";
  stampede::drill::capacity_outcome outcome;
  EXPECT_EQ(stampede::drill::run_capacity(request, &outcome), stampede::drill::capacity_exit_output);
  EXPECT_TRUE(outcome.curve.empty());  // no stage ran
  // A file that exists but cannot take the bytes (ENOSPC): the search runs, the exit code says so.
  stampede::testing::temp_dir dir("stampede-capacity-full");
  request.out_path = (dir.path() / "cap.json").string();
  request.chart_path = "/dev/full";
  EXPECT_EQ(stampede::drill::run_capacity(request, &outcome), stampede::drill::capacity_exit_output);
  EXPECT_FALSE(outcome.curve.empty());
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "cap.json"));  // what could be written was
}

// The real binary under `ulimit -n 200`: 136 VUs fit. A target answering every request in 200 ms needs
// 0.2 x rate VUs, so past ~680/s the generator runs out of descriptors, not the target out of capacity.
// The SLO is loose (p99 under 4 s for a 200 ms service): on a CI machine busy with other tests, a 1 s
// stage's p99 reached 1.1 s at 200/s, and the search then stopped at the target before the limit.
TEST(capacity_search, the_generators_descriptor_limit_ends_the_search_with_a_lower_bound) {
  known_capacity_server target(100'000, std::chrono::milliseconds{200});
  stampede::testing::temp_dir dir("stampede-capacity-fd");
  const std::string out = (dir.path() / "cap.json").string();
  const int code = run_shell("ulimit -n 200 && exec \"$@\"",
                             {STAMPEDE_BINARY, "capacity", STAMPEDE_DRILL_TEST_SCENARIOS "/capacity_target.lua", "--target",
                              target.url(), "--slo", "p(99)<4000,error_rate<0.01", "--start", "100", "--max", "1600",
                              "--stage", "1s", "--repeats", "1", "--precision", "0.5", "--quiet", "--out", out},
                             dir.path() / "log.txt", std::chrono::seconds{120});
  const std::string log = stampede::testing::read_text(dir.path() / "log.txt");
  ASSERT_EQ(code, 0) << log;
  EXPECT_NE(log.find("at least"), std::string::npos) << log;
  EXPECT_NE(log.find("the generator's limit, not the target's"), std::string::npos) << log;
  const json::value doc = json::parse(stampede::testing::read_text(out));
  const json::object& cap = doc.at("capacity").as_object();
  EXPECT_EQ(cap.at("limited_by"), "generator");
  EXPECT_EQ(cap.at("lower_bound"), true);
  // ~680/s in the release build; a sanitized generator spends more per VU and stops earlier (150/s under
  // ASan in CI), still past the first stage.
  EXPECT_GE(cap.at("sustainable_rate").to_number<double>(), stampede::testing::sanitized_build ? 100 : 400);
  EXPECT_NE(std::string(cap.at("limit_hint").as_string()).find("RLIMIT_NOFILE"), std::string::npos);
  EXPECT_EQ(cap.at("search").at("fd_soft_limit").to_number<double>(), 200);
}

// Every command raises the soft descriptor limit to the hard one at start: a script reads its own limits
// (outside its folder: a trusted script, --unsafe-lua).
TEST(capacity_search, every_command_raises_the_soft_descriptor_limit_at_start) {
  stampede::testing::temp_dir dir("stampede-capacity-rlimit");
  const auto script = dir.path() / "limits.lua";
  std::ofstream(script) << R"lua(
local limits = open("/proc/self/limits")
local soft, hard = limits:match("Max open files%s+(%S+)%s+(%S+)")
if soft ~= hard then error("soft limit " .. tostring(soft) .. " below the hard limit " .. tostring(hard)) end
function default() end
)lua";
  const int code = run_shell("ulimit -Sn 100 && ulimit -Hn 4000 && exec \"$@\"",
                             {STAMPEDE_BINARY, "run", script.string(), "--iterations", "1", "--quiet", "--unsafe-lua"},
                             dir.path() / "log.txt", std::chrono::seconds{60});
  EXPECT_EQ(code, 0) << stampede::testing::read_text(dir.path() / "log.txt");
}

// ---------------------------------------------------------------------------------------- pure functions

TEST(capacity_slo, the_primary_cause_is_the_most_fundamental_and_every_failure_is_listed) {
  auto slo = stampede::drill::parse_slo("p(99)<40,error_rate<0.01");
  json::value r = json::parse(R"({"schema":"stampede-results","version":1,"meta":{"duration_s":2.0,"generator":{"saturated":false}},
    "summary":{"requests":150,"iterations":150,"error_rate":0.0,"dropped_iterations":50,"vus_max":20,
               "latency_ms":{"p50":10,"p99":5000,"mean":12,"max":6000}}})");
  stampede::drill::stage_plan plan{.stage_s = 2, .graceful_stop_s = 1, .vus_cap = 20};
  auto s = stampede::drill::judge_stage(r, 100, slo, plan);
  EXPECT_FALSE(s.ok);
  EXPECT_EQ(s.cause, stampede::drill::stage_cause::dropped_iterations);
  EXPECT_NE(s.failed.find("dropped"), std::string::npos) << s.failed;
  EXPECT_NE(s.failed.find("latency"), std::string::npos) << s.failed;  // also listed
  EXPECT_LT(s.failed.find("dropped"), s.failed.find("latency"));
  // Iterations still running after the graceful stop are a latency failure even when the requests that did
  // complete were fast (an interrupted request records no latency).
  json::value stuck = json::parse(R"({"schema":"stampede-results","version":1,"meta":{"duration_s":3.0,"generator":{"saturated":false}},
    "summary":{"requests":190,"iterations":190,"error_rate":0.0,"dropped_iterations":0,
               "latency_ms":{"p50":1,"p99":2,"mean":1,"max":3}},
    "scenarios":[{"name":"default","interrupted_iterations":10}]})");
  auto i = stampede::drill::judge_stage(stuck, 100, slo, plan);
  EXPECT_EQ(i.cause, stampede::drill::stage_cause::latency);
  EXPECT_NE(i.failed.find("interrupted: 10"), std::string::npos) << i.failed;
  // A lagging generator: a failure it could explain is its own (not the target's); one ten times larger
  // than the lag is still the target's; a pass stands.
  stuck.at("meta").at("generator").as_object()["saturated"] = true;
  stuck.at("meta").at("generator").as_object()["p99_event_loop_lag_ms"] = 12.0;
  EXPECT_EQ(stampede::drill::judge_stage(stuck, 100, slo, plan).cause, stampede::drill::stage_cause::generator_saturated);
  r.at("meta").at("generator").as_object()["saturated"] = true;
  r.at("meta").at("generator").as_object()["p99_event_loop_lag_ms"] = 12.0;  // p99 5000 ms: not the lag
  auto lagged = stampede::drill::judge_stage(r, 100, slo, plan);
  EXPECT_EQ(lagged.cause, stampede::drill::stage_cause::dropped_iterations);
  EXPECT_NE(lagged.failed.find("too little to explain"), std::string::npos) << lagged.failed;
  stuck.at("scenarios").as_array()[0].as_object()["interrupted_iterations"] = 0;
  stuck.at("summary").as_object()["iterations"] = 200;
  EXPECT_TRUE(stampede::drill::judge_stage(stuck, 100, slo, plan).ok);
}

TEST(capacity_slo, dropped_arrivals_are_blamed_on_the_vu_limit_the_descriptor_limit_or_the_target) {
  using stampede::drill::stage_result;
  stage_result low;
  low.rate = 10;
  low.ok = true;
  low.iteration_s = 0.005;
  stage_result f;
  f.rate = 1000;
  f.stage_s = 5;
  f.ok = false;
  f.cause = stampede::drill::stage_cause::dropped_iterations;
  f.dropped_iterations = 2000;
  f.vus_cap = 1000;
  f.vus_max = 1000;
  f.iteration_s = 1.2;
  auto target = stampede::drill::diagnose_limit(f, &low);
  EXPECT_EQ(target.limited_by, "target");
  EXPECT_NE(target.hint.find("slowed down"), std::string::npos) << target.hint;
  EXPECT_NE(target.hint.find("40.0%"), std::string::npos) << target.hint;  // 2000 of 5000 arrivals
  low.iteration_s = 2.0;  // think time: 1000/s needs 2000 VUs even for a healthy target
  auto vus = stampede::drill::diagnose_limit(f, &low);
  EXPECT_EQ(vus.limited_by, "generator");
  EXPECT_NE(vus.hint.find("VU limit"), std::string::npos) << vus.hint;
  low.iteration_s = 0.005;
  f.vus_cap_fd_limited = true;
  auto fds = stampede::drill::diagnose_limit(f, &low);
  EXPECT_EQ(fds.limited_by, "generator");
  EXPECT_NE(fds.hint.find("RLIMIT_NOFILE"), std::string::npos) << fds.hint;
  f.vus_cap_fd_limited = false;
  f.cause = stampede::drill::stage_cause::generator_saturated;
  EXPECT_EQ(stampede::drill::diagnose_limit(f, &low).limited_by, "generator");
  f.cause = stampede::drill::stage_cause::errors;
  f.error_rate = 0.2;
  f.errors_by_kind = {{"status_5xx", 900}, {"reset", 100}};
  auto errors = stampede::drill::diagnose_limit(f, &low);
  EXPECT_EQ(errors.limited_by, "target");
  EXPECT_NE(errors.hint.find("status_5xx 900"), std::string::npos) << errors.hint;
}

TEST(capacity_slo, the_recommended_rate_is_the_lower_of_the_headroom_and_the_flat_part_of_the_latency_curve) {
  auto stage = [](double rate, double p99, bool ok) {
    stampede::drill::stage_result s;
    s.rate = rate;
    s.p99_ms = p99;
    s.ok = ok;
    return s;
  };
  // p99 doubles (10 -> 30 ms) at 400/s: the latency curve has turned, 200/s is the last flat rate.
  std::vector<stampede::drill::stage_result> curve{stage(100, 10, true), stage(200, 12, true), stage(400, 30, true),
                                                   stage(800, 80, true), stage(1000, 400, false)};
  auto r = stampede::drill::recommend_rate(curve, 800, 0.2);
  EXPECT_DOUBLE_EQ(r.flat_rate, 200);
  EXPECT_DOUBLE_EQ(r.headroom_rate, 640);
  EXPECT_DOUBLE_EQ(r.rate, 200);
  EXPECT_NE(r.rule.find("flat part"), std::string::npos) << r.rule;
  // A flat curve up to the knee: the headroom decides. The worst repeat of a rate counts.
  curve = {stage(100, 10, true), stage(200, 11, true), stage(400, 12, true), stage(400, 19, true), stage(800, 18, true),
           stage(1000, 400, false)};
  r = stampede::drill::recommend_rate(curve, 800, 0.2);
  EXPECT_DOUBLE_EQ(r.flat_rate, 800);
  EXPECT_DOUBLE_EQ(r.rate, 640);
  EXPECT_NE(r.rule.find("20% headroom"), std::string::npos) << r.rule;
  EXPECT_DOUBLE_EQ(stampede::drill::recommend_rate(curve, 0, 0.2).rate, 0);
}

// The chart's x axis is the offered rate (not the highest throughput), with tick values; latency is on a
// log axis with the SLO bound; every label lies inside the picture.
TEST(capacity_chart, offered_rate_axis_with_ticks_log_latency_and_the_slo_line) {
  stampede::drill::capacity_outcome o;
  o.slo_text = "p(99)<300,error_rate<0.01";
  o.knee_rate = 800;
  o.recommended.rate = 640;
  o.limited_by = "target";
  for (double rate : {100.0, 200.0, 400.0, 800.0, 1000.0}) {
    stampede::drill::stage_result s;
    s.rate = rate;
    s.stage_s = 5;
    s.iterations_per_s = std::min(rate, 850.0);
    s.throughput = 3 * s.iterations_per_s;  // three requests per iteration
    s.p99_ms = rate < 1000 ? rate / 100 : 2500;
    s.ok = rate < 1000;
    if (!s.ok) s.cause = stampede::drill::stage_cause::latency;
    o.curve.push_back(s);
  }
  const std::string svg = stampede::drill::render_capacity_svg(o);
  for (const char* tick : {">0<", ">200<", ">400<", ">600<", ">800<", ">1k<", ">1 ms<", ">10 ms<", ">100 ms<", ">1 s<"}) {
    EXPECT_NE(svg.find(tick), std::string::npos) << tick;
  }
  EXPECT_EQ(svg.find(">3k<"), std::string::npos);  // the request rate does not stretch the axis
  EXPECT_NE(svg.find("SLO p(99)&lt;300"), std::string::npos);
  EXPECT_NE(svg.find("recommended 640/s"), std::string::npos);
  EXPECT_NE(svg.find("sustainable 800/s"), std::string::npos);
  // Labels of rates close together: the first goes to the left of its line, or when there is no room
  // there, the second goes one row lower; never over each other.
  EXPECT_NE(svg.find("y=\"86\" fill=\"#2ca02c\" text-anchor=\"start\""), std::string::npos);
  o.recommended.rate = 760;
  const std::string close = stampede::drill::render_capacity_svg(o);
  EXPECT_NE(close.find("y=\"86\" fill=\"#9467bd\" text-anchor=\"end\""), std::string::npos) << close;
  EXPECT_NE(close.find("y=\"86\" fill=\"#2ca02c\" text-anchor=\"start\""), std::string::npos);
  o.knee_rate = 60;
  o.recommended.rate = 40;
  const std::string left_edge = stampede::drill::render_capacity_svg(o);
  EXPECT_NE(left_edge.find("y=\"86\" fill=\"#9467bd\" text-anchor=\"start\""), std::string::npos) << left_edge;
  EXPECT_NE(left_edge.find("y=\"102\" fill=\"#2ca02c\""), std::string::npos);
  o.knee_rate = 800;
  o.recommended.rate = 640;
  const std::regex text_at(R"re(<text x="([-0-9.]+)" y="([-0-9.]+)")re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), text_at); it != std::sregex_iterator(); ++it) {
    const double x = std::stod((*it)[1]), y = std::stod((*it)[2]);
    EXPECT_TRUE(x >= 0 && x <= 900 && y >= 12 && y <= 600) << it->str();
  }
  const std::string table = stampede::drill::render_capacity_text(o);
  EXPECT_NE(table.find("<- sustainable"), std::string::npos) << table;
  EXPECT_NE(table.find("x latency"), std::string::npos) << table;
}

}  // namespace
