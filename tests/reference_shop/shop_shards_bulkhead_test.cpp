// The shard bulkheads on the sharded store (shards.h, shard_guard.h) with shard 1 behind a black hole (a TCP
// listener that never accepts: the connect completes in the kernel, no server ever answers), on the fixture's
// real PostgreSQL for shard 0. Known answers: a read of a shard-1 product gives up at the read deadline,
// opens the circuit and is served from shard 0's copy with its stock unknown; the next ones are refused at
// once; everything wholly on shard 0 works (pages with their stock, checkouts); a checkout touching shard 1
// is refused at once; a list page marks exactly the shard-1 products unknown.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/reference_shop/shop_shards_fixture.h"
#include "tests/support/sanitizers.h"

namespace stampede::shop {
namespace {

class black_hole {
 public:
  black_hole() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd_, 64) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("black_hole: cannot listen");
    }
    port_ = ntohs(a.sin_port);
  }
  ~black_hole() { ::close(fd_); }
  black_hole(const black_hole&) = delete;
  black_hole& operator=(const black_hole&) = delete;
  std::string conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=shop user=shop connect_timeout=2";
  }

 private:
  int fd_;
  uint16_t port_ = 0;
};

using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}
// Upper bounds: the deadline plus the machine's slack (a shared 2-core box; sanitizers add theirs).
const double read_bound_s = 0.3 + 0.7 + stampede::testing::sanitizer_overhead_ms * 10 / 1000.0;
const double refused_bound_s = 0.2 + stampede::testing::sanitizer_overhead_ms * 10 / 1000.0;

TEST_F(shards_test, a_black_holed_shard_degrades_its_pages_and_refuses_its_checkouts_at_once) {
  black_hole hole;
  sharded_store_options o;
  o.recovery_interval = 0ms;
  o.coordinator.gid_prefix = prefix_;
  o.shard.pool.size = 4;
  o.guard = {.max_inflight = 4, .failures_to_open = 1, .open_for = 60s, .clock = {}};  // no probe in the test
  o.read_timeout = 300ms;
  sharded_store db{{urls_[0], hole.conninfo()}, o};

  auto t = clock_type::now();
  auto p3 = db.find_product(3);  // shard 1's SKU: the read deadline, then shard 0's copy
  EXPECT_LE(seconds_since(t), read_bound_s);
  ASSERT_TRUE(p3.has_value());
  EXPECT_FALSE(p3->stock_known);
  EXPECT_FALSE(p3->title.empty());
  EXPECT_TRUE(db.guard_stats(1).open);
  EXPECT_EQ(db.guard_stats(1).opened, 1u);
  EXPECT_FALSE(db.guard_stats(0).open);

  t = clock_type::now();
  auto p5 = db.find_product(5);  // refused at once now
  EXPECT_LE(seconds_since(t), refused_bound_s);
  ASSERT_TRUE(p5.has_value());
  EXPECT_FALSE(p5->stock_known);
  EXPECT_GE(db.guard_stats(1).refused_open, 1u);

  auto p2 = db.find_product(2);  // shard 0's SKU: its real stock
  ASSERT_TRUE(p2.has_value());
  EXPECT_TRUE(p2->stock_known);
  EXPECT_EQ(p2->stock, stock(2));

  // User 2: home shard 0. A cart wholly on shard 0 checks out; one with a shard-1 SKU is refused at once.
  const int64_t before = stock(2);
  auto r = db.checkout(2, "bk1", "h1", {{2, 1}}, 1000);
  EXPECT_EQ(r.status, checkout_status::created);
  EXPECT_EQ(stock(2), before - 1);
  t = clock_type::now();
  EXPECT_THROW(db.checkout(2, "bk2", "h2", {{2, 1}, {3, 1}}, 1000), store_unavailable);
  EXPECT_LE(seconds_since(t), refused_bound_s);
  EXPECT_EQ(stock(2), before - 1);  // nothing of the refused one

  // A list page: exactly the shard-1 products unknown.
  auto page = db.list_products(product_query{.category_id = {}, .q = {}, .page = 1, .size = 20});
  ASSERT_FALSE(page.items.empty());
  int unknown = 0;
  for (const auto& p : page.items) {
    EXPECT_EQ(p.stock_known, p.id % 2 == 0) << p.id;
    unknown += p.stock_known ? 0 : 1;
  }
  EXPECT_GT(unknown, 0);
  EXPECT_NO_THROW(db.bestsellers(100, 5));  // the shards that answer
}

TEST_F(shards_test, with_the_guard_on_and_every_shard_up_nothing_is_refused) {
  sharded_store_options o;
  o.guard = {.max_inflight = 4, .failures_to_open = 1, .open_for = 1000ms, .clock = {}};
  o.read_timeout = 500ms;
  auto db = open(o);
  for (int i = 0; i < 20; ++i) {
    auto p = db->find_product(2 + i);
    ASSERT_TRUE(p.has_value());
    EXPECT_TRUE(p->stock_known);
  }
  EXPECT_EQ(db->checkout(user, "ok1", "h", cross_cart, 1000).status, checkout_status::created);
  for (int s = 0; s < 2; ++s) {
    const auto g = db->guard_stats(s);
    EXPECT_FALSE(g.open);
    EXPECT_EQ(g.refused_full + g.refused_open + g.failures, 0u) << s;
    EXPECT_EQ(g.inflight, 0) << s;
  }
}

}  // namespace
}  // namespace stampede::shop
