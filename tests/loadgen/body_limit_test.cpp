// Response bodies against memory: an endless or huge body keeps at most options.responseBodyLimit bytes
// per response (the rest is read, counted and dropped; a complete response says body_truncated), and with
// discardResponseBodies no body byte is kept at all. The server is tests/support's body_server.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "loadgen/run.h"
#include "tests/loadgen/run_support.h"
#include "tests/support/body_server.h"
#include "tests/support/raw_socket.h"
#include "tests/support/sanitizers.h"

namespace stampede::loadgen {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using test::make_request;
using test::run_result;
using test::run_scenario;
using test::temp_dir;

int64_t errors_of(const json::object& step, std::string_view kind) {
  const auto* v = step.at("errors_by_kind").as_object().if_contains(kind);
  return v == nullptr ? 0 : v->to_number<int64_t>();
}

// VUS VUs each fetch PATH once (timeout 2 s); OPTIONS is spliced into the options table.
std::string endless_script(std::string_view extra_options) {
  return "options = { timeout = '2s', " + std::string(extra_options) +
         ", scenarios = { s = { executor = 'per-vu-iterations', vus = tonumber(env.VUS), iterations = 1,\n"
         "  maxDuration = '20s' } } }\n"
         "function default() http.get(env.PATH, { name = 'body' }) end\n";
}

class body_limit : public ::testing::Test {
 protected:
  run_result run(std::string_view script, std::map<std::string, std::string> env) {
    return run_scenario(make_request(dir_.write("body.lua", script), server_.base_url(), std::move(env)), dir_);
  }

  testing::body_server server_;
  temp_dir dir_;
};

// The issue: an endless chunked body grew without bound (218 MB for one VU, 1.45 GB for 16). Now each
// of the four responses keeps 1 MB while the server streams far more, and the request ends at its
// timeout, classified.
TEST_F(body_limit, an_endless_chunked_body_keeps_memory_bounded_and_ends_at_the_timeout) {
  const std::string script = endless_script("responseBodyLimit = '1MB'");
  // The same run on small bodies first: what the run itself costs (threads, histograms) is not growth.
  const run_result baseline = run(script, {{"VUS", "4"}, {"PATH", "/bytes?n=100"}});
  ASSERT_EQ(baseline.exit_code, exit_ok) << baseline.err;
  const long rss_before = testing::peak_rss_kib();
  const uint64_t sent_before = server_.body_bytes_sent();
  const auto started = std::chrono::steady_clock::now();
  const run_result r = run(script, {{"VUS", "4"}, {"PATH", "/endless"}});
  const auto took = std::chrono::steady_clock::now() - started;
  const long growth_kib = testing::peak_rss_kib() - rss_before;
  const uint64_t streamed = server_.body_bytes_sent() - sent_before;

  ASSERT_EQ(r.exit_code, exit_ok) << r.err;
  ASSERT_TRUE(r.has_results());
  const json::object* step = r.step("body");
  ASSERT_NE(step, nullptr);
  EXPECT_EQ(step->at("requests").to_number<int64_t>(), 4);
  EXPECT_EQ(errors_of(*step, "read_timeout"), 4) << json::serialize(step->at("errors_by_kind"));
  EXPECT_LT(took, 15s);  // the 2 s timeout, not the body, ends each request
  ::testing::Test::RecordProperty("streamed_bytes", std::to_string(streamed));
  ::testing::Test::RecordProperty("peak_rss_growth_kib", std::to_string(growth_kib));
  EXPECT_GT(streamed, 4u * 2 * 1024 * 1024) << "the server must have sent more than the responses kept";
  if (stampede::testing::rss_bounds_checked) {
    // 4 x 1 MB kept (x2 while a string grows); before the fix each response held up to 64 MiB.
    EXPECT_LT(growth_kib, 24 * 1024) << "peak RSS grew by " << growth_kib << " KiB while " << streamed
                                     << " body bytes streamed";
  }
}

// With discardResponseBodies nothing of a body is kept: it used to be buffered anyway (549 MB at 4 VUs).
TEST_F(body_limit, discarded_bodies_are_streamed_without_keeping_any_byte) {
  const std::string script = endless_script("discardResponseBodies = true");
  const run_result baseline = run(script, {{"VUS", "4"}, {"PATH", "/bytes?n=100"}});
  ASSERT_EQ(baseline.exit_code, exit_ok) << baseline.err;
  const long rss_before = testing::peak_rss_kib();
  const uint64_t sent_before = server_.body_bytes_sent();
  const run_result r = run(script, {{"VUS", "4"}, {"PATH", "/endless"}});
  const long growth_kib = testing::peak_rss_kib() - rss_before;
  const uint64_t streamed = server_.body_bytes_sent() - sent_before;
  ASSERT_EQ(r.exit_code, exit_ok) << r.err;
  const json::object* step = r.step("body");
  ASSERT_NE(step, nullptr);
  EXPECT_EQ(errors_of(*step, "read_timeout"), 4);
  EXPECT_EQ(errors_of(*step, "body_truncated"), 0);
  ::testing::Test::RecordProperty("peak_rss_growth_kib", std::to_string(growth_kib));
  EXPECT_GT(streamed, 4u * 2 * 1024 * 1024);
  if (stampede::testing::rss_bounds_checked) {
    EXPECT_LT(growth_kib, 8 * 1024) << "peak RSS grew by " << growth_kib << " KiB while " << streamed
                                    << " body bytes streamed";
  }
}

// A complete response over the limit: the script sees the status, the first responseBodyLimit bytes and
// error_code "body_truncated"; the connection stays usable; the summary counts the kind. A body at the
// limit, and any body with discardResponseBodies, is no error.
TEST_F(body_limit, a_complete_body_over_the_limit_is_truncated_and_classified) {
  const std::string script = R"lua(
options = { responseBodyLimit = 1000, iterations = 1 }
function default()
  for _, path in ipairs({ "/bytes?n=5000", "/chunked?n=300000", "/bytes?n=1000" }) do
    local r = http.get(path, { name = path })
    check(r, {
      [path .. " status"] = function(r) return r.status == 200 end,
      [path .. " kept"] = function(r) return #r.body == 1000 end,
      [path .. " kind"] = function(r)
        if path == "/bytes?n=1000" then return r.ok and r.error_code == nil end
        return not r.ok and r.error_code == "body_truncated" and r.error:find("responseBodyLimit") ~= nil
      end,
    })
  end
end
)lua";
  const run_result r = run(script, {});
  ASSERT_EQ(r.exit_code, exit_ok) << r.err;
  ASSERT_TRUE(r.has_results());
  EXPECT_EQ(r.failed_checks(), "") << r.err;
  EXPECT_EQ(r.checks().size(), 9u);
  EXPECT_EQ(r.summary().at("errors_by_kind").at("body_truncated").to_number<int64_t>(), 2);
  EXPECT_EQ(errors_of(*r.step("/chunked?n=300000"), "body_truncated"), 1);
  EXPECT_EQ(errors_of(*r.step("/bytes?n=1000"), "body_truncated"), 0);
  // Every body was read to its end, so one keep-alive connection served the three requests.
  EXPECT_EQ(server_.requests(), 3u);
  EXPECT_EQ(server_.connections(), 1u);
  EXPECT_GE(r.summary_int("data_received_bytes"), 306000);

  const std::string discard = R"lua(
options = { discardResponseBodies = true, responseBodyLimit = 1000, iterations = 1 }
function default()
  local r = http.get("/bytes?n=5000")
  check(r, { ["no body, no error"] = function(r) return r.status == 200 and r.ok and r.body == "" end })
end
)lua";
  const run_result d = run(discard, {});
  ASSERT_EQ(d.exit_code, exit_ok) << d.err;
  EXPECT_EQ(d.failed_checks(), "") << d.err;
}

TEST_F(body_limit, a_bad_limit_is_refused_naming_the_option) {
  for (const char* value : {"'lots'", "-1", "'10XB'", "{}"}) {
    const run_result r = run("options = { responseBodyLimit = " + std::string(value) + " }\nfunction default() end\n", {});
    EXPECT_EQ(r.exit_code, exit_invalid_options) << value;
    EXPECT_NE(r.err.find("options.responseBodyLimit"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace stampede::loadgen
