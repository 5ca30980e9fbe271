#include "toxic_test_support.h"

namespace stampede::chaos::toxics::testing {
namespace {

TEST(http_abort_toxic, answers_matching_requests_with_its_status_and_body) {
  auto t = spec_of(toxic_type::http_abort);
  t.name = "checkout";
  t.method = "POST";
  t.path = "/checkout";
  t.status = 502;
  t.body = "nope";
  auto unit = make(t, {.direction = "upstream"});
  capture log;
  const auto hit = unit->on_request("POST", "/checkout/confirm?x=1", 4, log.at(t0));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->what, request_fault::kind::abort);
  EXPECT_EQ(hit->status, 502);
  EXPECT_EQ(hit->body, "nope");
  EXPECT_EQ(hit->toxic, "checkout");
  EXPECT_FALSE(unit->on_request("GET", "/checkout", 5, log.at(t0)));
  EXPECT_FALSE(unit->on_request("POST", "/cart", 6, log.at(t0)));
  ASSERT_EQ(log.entries.size(), 1u);
  EXPECT_EQ(log.entries[0].detail, "status=502 POST /checkout/confirm?x=1");
  EXPECT_EQ(log.entries[0].request, 4u);
}

TEST(http_abort_toxic, toxicity_rolls_per_request_and_replays_with_the_seed) {
  auto t = spec_of(toxic_type::http_abort);
  t.toxicity = 0.25;
  auto a = make(t, {.seed = 5}), b = make(t, {.seed = 5});
  capture log;
  int hits = 0;
  for (uint64_t i = 1; i <= 4000; ++i) {
    const bool hit = a->on_request("GET", "/", i, log.at(t0)).has_value();
    EXPECT_EQ(hit, b->on_request("GET", "/", i, log.at(t0)).has_value());
    hits += hit;
  }
  EXPECT_NEAR(hits / 4000.0, 0.25, 0.03);
}

TEST(http_abort_toxic, first_n_is_one_budget_for_every_connection) {
  auto t = spec_of(toxic_type::http_abort);
  t.first_n = 3;
  auto budget = std::make_shared<std::atomic<int64_t>>(0);
  auto one = make(t, {.budget = budget}), other = make(t, {.budget = budget});
  capture log;
  EXPECT_TRUE(one->on_request("GET", "/", 1, log.at(t0)));
  EXPECT_TRUE(other->on_request("GET", "/", 1, log.at(t0)));
  EXPECT_TRUE(one->on_request("GET", "/", 2, log.at(t0)));
  EXPECT_FALSE(other->on_request("GET", "/", 2, log.at(t0)));
  EXPECT_FALSE(one->on_request("GET", "/", 3, log.at(t0)));
}

}  // namespace
}  // namespace stampede::chaos::toxics::testing
