// The helpers k6 scripts lean on (loadgen/lua_helpers.cpp, scenarios/helpers.lua): hashes and HMAC on RFC
// vectors, base64 on RFC 4648's, URL encoding, uuid.v4, multipart bodies with http.file, and http.url's
// templated step names.
#include <gtest/gtest.h>

#include "loadgen/run.h"
#include "tests/loadgen/run_support.h"
#include "tests/support/test_server.h"

namespace stampede::loadgen {
namespace {

using test::make_request;
using test::run_result;
using test::run_scenario;
using test::scenario;
using test::temp_dir;

class lua_helpers : public ::testing::Test {
 protected:
  run_result run_case(const std::string& name) {
    return run_scenario(make_request(scenario("helpers.lua"), server_.base_url(), {{"CASE", name}}), dir_);
  }
  static void expect_all_checks_passed(const run_result& r, size_t expected) {
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.scenario().at("failed_iterations").to_number<int64_t>(), 0) << r.err;
    EXPECT_EQ(r.checks().size(), expected) << r.err;
    EXPECT_EQ(r.failed_checks(), "");
  }
  testing::test_server server_;
  temp_dir dir_;
};

TEST_F(lua_helpers, crypto_encoding_and_uuid_match_the_rfc_vectors) {
  expect_all_checks_passed(run_case("vectors"), 19);
}

TEST_F(lua_helpers, a_form_with_http_file_is_sent_as_multipart) {
  expect_all_checks_passed(run_case("multipart"), 5);
}

TEST_F(lua_helpers, http_url_names_the_step_by_its_template) {
  const auto r = run_case("templated");
  expect_all_checks_passed(r, 4);
  const auto* step = r.step("GET /status/{}");
  ASSERT_NE(step, nullptr);
  EXPECT_EQ(step->at("requests").to_number<int64_t>(), 3);  // two single requests and the batch's
  EXPECT_NE(r.step("explicit"), nullptr);                   // params.name wins
  EXPECT_EQ(r.step("GET /status/200"), nullptr);
  EXPECT_EQ(server_.hits("/status/201"), 1u);
}

}  // namespace
}  // namespace stampede::loadgen
