// A node's database link cut by a network fault (a chaos proxy between the store and PostgreSQL, as
// `stampede drill` puts on `db:nodeK`): a blackhole swallows the bytes while the proxy, like a live kernel,
// acknowledges them, so neither the server's statement_timeout nor TCP's user timeout can end the wait.
// The store answers within its own deadlines (statement_timeout + margin, commit deadline + a bounded
// cancel, connect_timeout) with store_unavailable (the node's 503), never hangs, and recovers when the link
// heals. Before the client-side deadline these calls blocked until the link healed.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "chaos/proxy_server.h"
#include "reference_shop/postgres_store.h"
#include "tests/reference_shop/store_backends.h"
#include "tests/support/sanitizers.h"

namespace stampede::shop {
namespace {

using namespace std::chrono_literals;
using testing::postgres_backend;

[[maybe_unused]] auto& pg_environment = testing::pg_test_environment::get();

class database_link_test : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      backend_ = std::make_unique<postgres_backend>();
    } catch (const std::exception& e) {
      GTEST_FAIL() << e.what();
    }
    auto db = backend_->open();
    db->migrate();
    db->reseed(1, "h");
    const std::string& conninfo = backend_->conninfo();
    const auto port_at = conninfo.find("port=");
    const std::string server_port = conninfo.substr(port_at + 5, conninfo.find(' ', port_at) - port_at - 5);
    auto info = proxies_.add_proxy({"db:node1", "127.0.0.1:0", "127.0.0.1:" + server_port, true});
    proxy_port_ = info.config.listen.substr(info.config.listen.rfind(':') + 1);
  }
  // A store whose sessions cross the proxy (the later port= wins over the server's).
  std::unique_ptr<postgres_store> through_link(postgres_store_options o) {
    o.pool.session.statement_timeout = 500ms;
    o.pool.session.connect_timeout = 2s;
    o.pool.session.commit_timeout = 300ms;
    return std::make_unique<postgres_store>(backend_->conninfo() + " port=" + proxy_port_, std::move(o));
  }
  // Swallows both directions for good (Toxiproxy's timeout toxic with timeout 0: a blackhole).
  void cut() {
    for (auto stream : {chaos::stream_direction::upstream, chaos::stream_direction::downstream}) {
      chaos::toxic_spec t;
      t.type = chaos::toxic_type::timeout;
      t.stream = stream;
      t.timeout = 0;
      t.name = std::string{"cut_"} + (stream == chaos::stream_direction::upstream ? "up" : "down");
      proxies_.add_toxic("db:node1", t);
    }
  }
  void heal() { proxies_.reset(); }
  // Runs `call` and returns how long it took to throw store_unavailable; heals the link and fails the test
  // if it is still blocked after `bound` (so the call can end and the test process does not hang).
  template <class F>
  std::chrono::milliseconds time_to_unavailable(F call, std::chrono::milliseconds bound) {
    const auto start = std::chrono::steady_clock::now();
    auto done = std::async(std::launch::async, [&] {
      try {
        call();
        return std::string{"no error"};
      } catch (const store_unavailable& e) {
        return std::string{};
      } catch (const std::exception& e) {
        return std::string{"unexpected: "} + e.what();
      }
    });
    if (done.wait_for(bound) != std::future_status::ready) {
      heal();
      ADD_FAILURE() << "still blocked after " << bound.count() << " ms on a cut link";
      done.wait();
      return bound;
    }
    const std::string outcome = done.get();
    EXPECT_EQ(outcome, "");
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  }

  chaos::proxy_server proxies_{};
  std::unique_ptr<postgres_backend> backend_;
  std::string proxy_port_;
};

// Budget: a statement on the pooled session (0.5 s + 1 s margin), then a fresh session whose connect runs
// into connect_timeout (2 s): 3.5 s; the bound allows for a loaded machine.
const auto cut_bound = std::chrono::milliseconds{static_cast<int64_t>(8000 + 40 * stampede::testing::sanitizer_overhead_ms)};

TEST_F(database_link_test, a_read_on_a_cut_link_is_unavailable_within_its_deadlines_then_recovers) {
  auto db = through_link(postgres_backend::options());
  ASSERT_TRUE(db->find_product(1).has_value());  // a pooled session crossed the link
  cut();
  const auto took = time_to_unavailable([&] { db->find_product(1); }, 20s);
  EXPECT_LT(took, cut_bound);
  EXPECT_GE(took, 1400ms) << "the statement's own deadline (0.5 s + 1 s) comes first";
  heal();
  EXPECT_TRUE(db->find_product(1).has_value()) << "a new session once the link heals";
}

// The COMMIT's answer never comes back and neither does the cancel request's: the commit deadline (0.3 s)
// plus the cancel's bounded wait (1 s), then the keyed checkout is run again on a fresh session, whose
// connect fails (2 s): unavailable; once healed the same key gives one order.
TEST_F(database_link_test, a_commit_on_a_cut_link_is_unavailable_within_its_deadlines) {
  auto o = postgres_backend::options();
  bool armed = true;
  o.commit_hook = [&](std::string_view, bool sent, pg::connection&) {
    if (sent && armed) {
      armed = false;
      cut();
    }
  };
  auto db = through_link(o);
  const auto took =
      time_to_unavailable([&] { db->checkout(5, "cut-commit", "items:3x1", {{3, 1}}, 1); }, 20s);
  EXPECT_LT(took, cut_bound);
  heal();
  const auto placed = db->checkout(5, "cut-commit", "items:3x1", {{3, 1}}, 1);
  // Placed by the first run (its COMMIT may have reached the server) or now: exactly one order either way.
  ASSERT_TRUE(placed.status == checkout_status::created || placed.status == checkout_status::replayed);
  EXPECT_EQ(db->checkout(5, "cut-commit", "items:3x1", {{3, 1}}, 1).placed.id, placed.placed.id);
}

}  // namespace
}  // namespace stampede::shop
