// Group commit of flash purchases (reference_shop/purchase_batcher.h) over a real SQLite store: under
// concurrency every purchase is answered exactly once, the sale sells exactly its stock, nobody twice; the
// bounds (queue, wait, stopping) refuse without doing anything. A gate in front of the store holds a batch
// open where a test needs purchases to queue behind it.
#include "reference_shop/purchase_batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "reference_shop/passwords.h"
#include "reference_shop/seed.h"
#include "reference_shop/sqlite_store.h"
#include "tests/reference_shop/shop_test_support.h"
#include "tests/support/child_process.h"

namespace stampede::shop {
namespace {

using namespace std::chrono_literals;

// A gate the batch runner waits at before the store: open() lets it through.
struct gate {
  std::mutex mutex;
  std::condition_variable cv;
  bool entered = false, opened = false;
  void wait() {
    std::unique_lock lock{mutex};
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return opened; });
  }
  void await_entered() {
    std::unique_lock lock{mutex};
    cv.wait(lock, [&] { return entered; });
  }
  void open() {
    std::lock_guard lock{mutex};
    opened = true;
    cv.notify_all();
  }
};

class purchase_batcher_test : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_unique<sqlite_store>(dir_.file("shop.db"));
    store_->migrate();
    store_->reseed(1, hash_password(seed_password, kdf_cost::minimal));
  }
  purchase_batcher::run_batch direct() {
    return [this](std::span<const purchase_request> b) { return store_->flash_purchases(b); };
  }
  // The store behind held_: the first batch waits at the gate until held_.open(), the later ones go through.
  purchase_batcher::run_batch held_first_batch() {
    return [this](std::span<const purchase_request> b) {
      if (first_batch_.exchange(false)) held_.wait();
      return store_->flash_purchases(b);
    };
  }
  // An outcome callback counting purchases answered without an error and those refused as unavailable.
  std::function<void(purchase_outcome)> count_ok_and_unavailable() {
    return [this](purchase_outcome o) {
      if (!o.error) return void(++ok_);
      try {
        std::rethrow_exception(o.error);
      } catch (const store_unavailable&) {
        ++unavailable_;
      } catch (...) {
      }
    };
  }

  testing::temp_dir dir_;
  std::unique_ptr<sqlite_store> store_;
  gate held_;
  std::atomic<bool> first_batch_{true};
  std::atomic<int> ok_{0}, unavailable_{0};
};

TEST_F(purchase_batcher_test, concurrent_buyers_get_exactly_the_stock_once_each) {
  auto sale = store_->create_flash_sale(5, 40, 100, 1, 0);
  ASSERT_TRUE(sale);
  purchase_batcher batcher{direct(), {16, 1024, 5000ms}};
  constexpr int threads = 8, users = 120;  // each user tries twice
  std::mutex mutex;
  std::multiset<int64_t> buyers;
  std::atomic<int> answered{0}, sold_out{0}, already{0}, errors{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int u = 1 + t; u <= users; u += threads) {
        for (int attempt = 0; attempt < 2; ++attempt) {
          const bool queued = batcher.submit({*sale, u, 1}, [&, u](purchase_outcome o) {
            ++answered;
            if (o.error) ++errors;
            if (o.result.status == purchase_status::created && !o.error) {
              std::lock_guard lock{mutex};
              buyers.insert(u);
            }
            if (o.result.status == purchase_status::sold_out) ++sold_out;
            if (o.result.status == purchase_status::already_bought) ++already;
          });
          EXPECT_TRUE(queued);
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  ASSERT_TRUE(::stampede::testing::eventually([&] { return answered.load() == 2 * users; }, 30s));
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(buyers.size(), 40u);
  EXPECT_EQ(std::set<int64_t>(buyers.begin(), buyers.end()).size(), 40u);  // nobody twice
  EXPECT_EQ(store_->find_flash_sale(*sale)->remaining, 0);
  const auto audit = store_->audit();
  for (const auto& s : audit.at("flash_sales").as_array()) {
    if (s.at("sale_id").as_int64() == *sale) {
      EXPECT_EQ(s.at("sold").as_int64(), 40);
    }
  }
  const auto stats = batcher.counters();
  EXPECT_EQ(stats.purchases, static_cast<uint64_t>(2 * users));
  EXPECT_GE(stats.batches, 1u);
  EXPECT_LE(stats.largest, 16u);
}

TEST_F(purchase_batcher_test, full_queue_refuses_and_answers_nothing) {
  auto sale = store_->create_flash_sale(5, 10, 100, 1, 0);
  ASSERT_TRUE(sale);
  purchase_batcher batcher{held_first_batch(), {64, 2, 5000ms}};
  std::atomic<int> answered{0};
  auto count = [&](purchase_outcome o) {
    EXPECT_FALSE(o.error);
    ++answered;
  };
  EXPECT_TRUE(batcher.submit({*sale, 1, 1}, count));
  held_.await_entered();  // user 1's batch is at the gate: the next ones queue
  EXPECT_TRUE(batcher.submit({*sale, 2, 1}, count));
  EXPECT_TRUE(batcher.submit({*sale, 3, 1}, count));
  std::atomic<bool> called{false};
  EXPECT_FALSE(batcher.submit({*sale, 4, 1}, [&](purchase_outcome) { called = true; }));
  held_.open();
  ASSERT_TRUE(::stampede::testing::eventually([&] { return answered.load() == 3; }, 30s));
  EXPECT_FALSE(called);
  EXPECT_EQ(store_->find_flash_sale(*sale)->remaining, 7);  // users 1-3 bought, user 4 nothing
  EXPECT_EQ(batcher.counters().batches, 2u);                // 1 alone, then 2 and 3 together
}

TEST_F(purchase_batcher_test, purchase_that_waited_too_long_is_refused_untried) {
  auto sale = store_->create_flash_sale(5, 10, 100, 1, 0);
  ASSERT_TRUE(sale);
  purchase_batcher batcher{held_first_batch(), {64, 1024, 20ms}};
  const auto count = count_ok_and_unavailable();
  ASSERT_TRUE(batcher.submit({*sale, 1, 1}, count));
  held_.await_entered();
  ASSERT_TRUE(batcher.submit({*sale, 2, 1}, count));
  std::this_thread::sleep_for(100ms);  // past max_wait (20 ms) while the first batch is held
  held_.open();
  ASSERT_TRUE(::stampede::testing::eventually([&] { return ok_.load() + unavailable_.load() == 2; }, 30s));
  EXPECT_EQ(ok_.load(), 1);
  EXPECT_EQ(unavailable_.load(), 1);
  EXPECT_EQ(store_->find_flash_sale(*sale)->remaining, 9);  // only user 1's unit
}

TEST_F(purchase_batcher_test, stopping_answers_what_still_waits_untried) {
  auto sale = store_->create_flash_sale(5, 10, 100, 1, 0);
  ASSERT_TRUE(sale);
  const auto count = count_ok_and_unavailable();
  std::thread opener;
  std::atomic<int> probes{0};
  {
    purchase_batcher batcher{held_first_batch(),
                             {64, size_t{1} << 20, 5000ms}};  // never full: only stopping refuses
    ASSERT_TRUE(batcher.submit({*sale, 1, 1}, count));
    held_.await_entered();
    ASSERT_TRUE(batcher.submit({*sale, 2, 1}, count));
    // Opens the gate once the batcher refuses new purchases (the destructor below has begun); what it queued
    // before that waits with user 2.
    opener = std::thread{[&] {
      while (batcher.submit({*sale, 3, 1}, count)) ++probes;
      held_.open();
    }};
  }  // stops: the held batch finishes, user 2 (and the probes) are answered without being tried
  opener.join();
  EXPECT_EQ(ok_.load(), 1);
  EXPECT_EQ(unavailable_.load(), 1 + probes.load());
  EXPECT_EQ(store_->find_flash_sale(*sale)->remaining, 9);
}

}  // namespace
}  // namespace stampede::shop
