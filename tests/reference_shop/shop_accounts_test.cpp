// Accounts of a shop node through real sockets: logout revokes the session; an unknown email takes the
// dummy-hash path (no timing oracle for account enumeration); control characters in emails are refused and
// emails are normalised; failed logins are limited per account and logins per source address; and a login
// storm is shed by the bounded hashing pool (429 + Retry-After) while health checks keep answering.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/http_client.h"
#include "reference_shop/node.h"
#include "reference_shop/work_pool.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using header_list = std::vector<std::pair<std::string, std::string>>;

class accounts_test : public ::testing::Test {
 protected:
  // Tests run at the cheapest KDF cost unless they ask for the production one.
  node& start(node_options o = {}, kdf_cost kdf = kdf_cost::minimal) {
    o.name = "accounts-node";
    o.db_path = dir_.file("shop.db");
    o.kdf = kdf;
    o.seed_scale = 1;
    node_ = std::make_unique<node>(o);
    node_->start();
    return *node_;
  }
  http::client_response call(std::string_view method, std::string_view target, std::string_view body = {},
                             header_list h = {}) {
    http::blocking_client c{"127.0.0.1", node_->port(), 20s};
    if (!body.empty()) h.emplace_back("Content-Type", "application/json");
    return c.request(method, target, body, h);
  }
  static std::string credentials(std::string_view email, std::string_view password) {
    return json::serialize(json::object{{"email", email}, {"password", password}});
  }
  http::client_response sign_up(std::string_view email) {
    return call("POST", "/api/users",
                json::serialize(json::object{{"email", email}, {"password", "password123"}, {"name", "A"}}));
  }
  std::string login(std::string_view email) {
    auto r = call("POST", "/api/sessions", credentials(email, "password123"));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? std::string{json::parse(r.body).at("token").as_string()} : "";
  }
  // A counter or gauge of /metrics, the sample whose line starts with `series` ("name{labels}").
  double metric(const std::string& series) {
    const std::string text = call("GET", "/metrics").body;
    const size_t at = text.find("\n" + series + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + series.size() + 2));
  }

  testing::temp_dir dir_;
  std::unique_ptr<node> node_;
};

// The hashing pool's admission: a free worker always takes a task; beyond, at most max_queue wait, and only
// while they would start within max_wait at the measured speed; a task that still waited longer is told
// not to run (run = false) so that its caller sheds it.
TEST(work_pool, admits_what_would_start_soon_and_expires_what_waited_too_long) {
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> ran{0}, expired{0};
  auto blocker = [&](bool) {
    std::unique_lock lock{m};
    cv.wait(lock, [&] { return release; });
  };
  auto count = [&](bool run) { ++(run ? ran : expired); };
  auto open_gate = [&] {
    {
      std::lock_guard lock{m};
      release = true;
    }
    cv.notify_all();
  };
  {
    work_pool pool{1, 2, std::chrono::milliseconds{60'000}};
    ASSERT_TRUE(pool.try_submit(blocker));  // runs
    ASSERT_TRUE(testing::eventually([&] { return pool.running() == 1; }));
    EXPECT_TRUE(pool.try_submit(count));   // waits (1st)
    EXPECT_TRUE(pool.try_submit(count));   // waits (2nd)
    EXPECT_FALSE(pool.try_submit(count));  // max_queue reached
    open_gate();
    ASSERT_TRUE(testing::eventually([&] { return ran == 2 && pool.running() == 0 && pool.waiting() == 0; }));
    EXPECT_EQ(expired.load(), 0);
  }
  // Estimated: with one task's duration known (>= 5 ms) and max_wait 1 ms, nothing may queue behind a busy
  // worker.
  release = false;
  {
    work_pool pool{1, 100, std::chrono::milliseconds{1}};
    // The calibration task itself expires when the worker picks it up more than 1 ms late (a busy machine,
    // ASan): submit it again until one has run, so the pool has a duration to estimate with.
    std::atomic<bool> calibrated{false};
    for (int attempt = 0; attempt < 100 && !calibrated; ++attempt) {
      ASSERT_TRUE(pool.try_submit([&](bool run) {
        if (!run) return;
        std::this_thread::sleep_for(5ms);
        calibrated = true;
      }));
      ASSERT_TRUE(testing::eventually([&] { return pool.running() == 0 && pool.waiting() == 0; }));
    }
    ASSERT_TRUE(calibrated);
    ASSERT_TRUE(pool.try_submit(blocker));
    ASSERT_TRUE(testing::eventually([&] { return pool.running() == 1; }));
    EXPECT_FALSE(pool.try_submit(count));
    EXPECT_GE(pool.drain_time().count(), 5);  // one task of >= 5 ms to wait for
    open_gate();
  }
  // Expired: no estimate yet (so admitted), but the worker stays busy past max_wait: new tasks are refused
  // once the oldest waiter is past the bound, and that waiter is called with run = false.
  release = false;
  ran = expired = 0;
  work_pool pool{1, 100, std::chrono::milliseconds{50}};
  ASSERT_TRUE(pool.try_submit(blocker));
  ASSERT_TRUE(testing::eventually([&] { return pool.running() == 1; }));
  ASSERT_TRUE(pool.try_submit(count));
  int admitted = 1;
  ASSERT_TRUE(testing::eventually([&] {
    if (!pool.try_submit(count)) return true;
    ++admitted;
    return false;
  }));
  // Refused without a duration estimate or a full queue: the oldest waiter is past the bound, so it expires.
  open_gate();
  ASSERT_TRUE(testing::eventually([&] { return ran + expired == admitted; }));
  EXPECT_GE(expired.load(), 1);
  EXPECT_EQ(pool.expired(), static_cast<uint64_t>(expired.load()));
  pool.stop();
  EXPECT_FALSE(pool.try_submit(count));  // stopped
}

TEST_F(accounts_test, logout_revokes_the_session_at_once) {
  start();
  ASSERT_EQ(sign_up("out@example.com").status, 201);
  const std::string token = login("out@example.com");
  const header_list bearer{{"Authorization", "Bearer " + token}};
  EXPECT_EQ(call("GET", "/api/cart", {}, bearer).status, 200);
  auto out = call("DELETE", "/api/sessions", {}, bearer);
  EXPECT_EQ(out.status, 204) << out.body;
  EXPECT_NE(std::string{out.headers.find("Set-Cookie")}.find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(call("GET", "/api/cart", {}, bearer).status, 401);
  EXPECT_EQ(call("DELETE", "/api/sessions", {}, bearer).status, 401);  // already revoked
  EXPECT_EQ(call("DELETE", "/api/sessions").status, 401);              // no session at all
  // The cookie form works too, and other sessions of the user stay valid.
  const std::string a = login("out@example.com"), b = login("out@example.com");
  EXPECT_EQ(call("DELETE", "/api/sessions", {}, {{"Cookie", "sid=" + a}}).status, 204);
  EXPECT_EQ(call("GET", "/api/cart", {}, {{"Cookie", "sid=" + a}}).status, 401);
  EXPECT_EQ(call("GET", "/api/cart", {}, {{"Authorization", "Bearer " + b}}).status, 200);
  EXPECT_EQ(metric("shop_logouts_total"), 2);
}

// A login for an unknown email verifies against a dummy hash of the same cost: the counter proves the path
// is taken; the median timings of both kinds of failure are printed (measured, not asserted).
TEST_F(accounts_test, unknown_email_takes_the_dummy_hash_path) {
  start({}, kdf_cost::interactive);
  ASSERT_EQ(sign_up("known@example.com").status, 201);
  EXPECT_EQ(metric("shop_login_dummy_verifications_total"), 0);
  std::vector<double> unknown_ms, wrong_ms;
  for (int i = 0; i < 3; ++i) {
    auto timed = [&](const std::string& body, std::vector<double>& into) {
      const auto t0 = std::chrono::steady_clock::now();
      EXPECT_EQ(call("POST", "/api/sessions", body).status, 401);
      into.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    };
    timed(credentials("nobody" + std::to_string(i) + "@example.com", "password123"), unknown_ms);
    timed(credentials("known@example.com", "wrong-password"), wrong_ms);
  }
  EXPECT_EQ(metric("shop_login_dummy_verifications_total"), 3);
  EXPECT_EQ(metric("shop_logins_total{result=\"invalid\"}"), 6);
  std::sort(unknown_ms.begin(), unknown_ms.end());
  std::sort(wrong_ms.begin(), wrong_ms.end());
  std::printf("login failure, median: unknown email %.1f ms, known email + wrong password %.1f ms\n",
              unknown_ms[1], wrong_ms[1]);
}

TEST_F(accounts_test, control_characters_in_emails_are_refused_and_emails_are_normalised) {
  start();
  ASSERT_EQ(sign_up("Mixed.Case@Example.com").status, 201);
  // The same address in another case is the same account.
  EXPECT_EQ(sign_up("mixed.case@example.COM").status, 409);
  EXPECT_FALSE(login("MIXED.CASE@EXAMPLE.COM").empty());
  // "\u0000" and friends would make a second account that looks identical.
  for (const std::string& bad :
       {std::string("mixed.case@example.com\0", 23), std::string("\x07mixed.case@example.com"),
        std::string("mixed.case@example.com\x7f"), std::string("mixed.case@example.com\xc2\x85"),
        std::string("mixed case@example.com"), std::string("mixed.case@example.com\t")}) {
    auto r = sign_up(bad);
    EXPECT_EQ(r.status, 400) << json::serialize(json::string(bad)) << " -> " << r.body;
    EXPECT_EQ(call("POST", "/api/sessions", credentials(bad, "password123")).status, 400);
  }
  // Non-ASCII that is not a control character is kept as it is.
  EXPECT_EQ(sign_up("j\xc3\xb6rg@example.com").status, 201);
}

TEST_F(accounts_test, failed_logins_are_limited_per_account_and_recover) {
  node_options o;
  o.login_failures_per_account = bucket_spec{2, 3};  // 3 failures, then one per 0.5 s
  start(o);
  ASSERT_EQ(sign_up("guess@example.com").status, 201);
  ASSERT_EQ(sign_up("other@example.com").status, 201);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(call("POST", "/api/sessions", credentials("guess@example.com", "nope")).status, 401);
  auto limited = call("POST", "/api/sessions", credentials("guess@example.com", "nope"));
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers.find("Retry-After"), "1");
  EXPECT_EQ(metric("shop_logins_total{result=\"account_limited\"}"), 1);
  // Other accounts are not affected; the limited one recovers as its bucket refills.
  EXPECT_FALSE(login("other@example.com").empty());
  EXPECT_TRUE(testing::eventually(
      [&] {
        return call("POST", "/api/sessions", credentials("guess@example.com", "password123")).status == 200;
      },
      5s));
  // Successes give their token back: logging in again and again is never limited.
  for (int i = 0; i < 6; ++i) EXPECT_FALSE(login("other@example.com").empty());
}

TEST_F(accounts_test, logins_per_source_are_shed_with_retry_after) {
  node_options o;
  o.login_per_source = bucket_spec{1, 2};
  start(o);
  ASSERT_EQ(sign_up("src@example.com").status, 201);
  EXPECT_FALSE(login("src@example.com").empty());
  auto shed = call("POST", "/api/sessions", credentials("src@example.com", "password123"));
  EXPECT_EQ(shed.status, 429);
  EXPECT_EQ(std::string{shed.headers.find("Retry-After")}, "1");
  EXPECT_EQ(metric("shop_login_shed_total{reason=\"source_rate\"}"), 1);
  // Everything else from that address is served.
  EXPECT_EQ(call("GET", "/api/products/3").status, 200);
  EXPECT_TRUE(testing::eventually(
      [&] {
        return call("POST", "/api/sessions", credentials("src@example.com", "password123")).status == 200;
      },
      5s));
}

// 12 concurrent logins at the production cost on a node with one server thread and one hashing worker:
// beyond the pool (1 running + 2 waiting) they are shed with 429 + Retry-After, every buyer that follows
// Retry-After logs in, and /readyz answers within HAProxy's check timeout (1 s) throughout. Before the
// pool, the server thread ran every hash and a health check waited behind all of them.
TEST_F(accounts_test, login_storm_is_shed_by_the_bounded_pool_and_readiness_keeps_answering) {
  node_options o;
  o.threads = 1;
  o.kdf_workers = 1;
  o.kdf_queue = 2;
  o.kdf_max_wait = 60s;     // the queue bound alone sheds here
  o.login_per_source = {};  // the pool alone sheds here
  start(o, kdf_cost::interactive);
  constexpr int buyers = 12;
  for (int i = 0; i < buyers; ++i)
    ASSERT_EQ(sign_up("storm" + std::to_string(i) + "@example.com").status, 201);
  std::atomic<bool> storm_over{false};
  std::atomic<int> ready_ok{0}, ready_slow{0};
  std::atomic<double> ready_max_ms{0};
  std::thread prober([&] {
    http::blocking_client c{"127.0.0.1", node_->port(), 1s};  // HAProxy's `timeout check 1s`
    while (!storm_over) {
      const auto t0 = std::chrono::steady_clock::now();
      try {
        (c.get("/readyz").status == 200 ? ready_ok : ready_slow)++;
      } catch (const std::exception&) {
        ++ready_slow;
        c.close();
      }
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      ready_max_ms = std::max(ready_max_ms.load(), ms);
      std::this_thread::sleep_for(50ms);  // HAProxy's pace is 250 ms; a denser probe
    }
  });
  std::atomic<int> logged_in{0}, shed{0}, other{0};
  std::vector<std::thread> crowd;
  for (int i = 0; i < buyers; ++i) {
    crowd.emplace_back([&, i] {
      http::blocking_client c{"127.0.0.1", node_->port(), 30s};
      for (int attempt = 0; attempt < 200; ++attempt) {
        auto r = c.post_json("/api/sessions",
                             credentials("storm" + std::to_string(i) + "@example.com", "password123"));
        if (r.status == 200) {
          ++logged_in;
          return;
        }
        if (r.status != 429 || r.headers.find("Retry-After").empty()) {
          ++other;
          return;
        }
        ++shed;
        // Retry-After is in seconds; this client scales it down to keep the test short (jittered).
        std::this_thread::sleep_for(std::chrono::milliseconds{100 + 37 * (i % 5)});
      }
    });
  }
  for (auto& t : crowd) t.join();
  storm_over = true;
  prober.join();
  std::printf("login storm: %d logged in, %d shed (429), readyz %d ok / %d slow or failed, max %.1f ms\n",
              logged_in.load(), shed.load(), ready_ok.load(), ready_slow.load(), ready_max_ms.load());
  EXPECT_EQ(logged_in.load(), buyers);
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(shed.load(), 0);
  EXPECT_GT(ready_ok.load(), 0);
  EXPECT_EQ(ready_slow.load(), 0);
  EXPECT_GE(metric("shop_login_shed_total{reason=\"busy\"}"), shed.load());
}

}  // namespace
}  // namespace stampede::shop
