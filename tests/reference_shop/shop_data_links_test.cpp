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
#include "reference_shop/data_links.h"
#include "reference_shop/options.h"
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
  // Swallows a direction for good (Toxiproxy's timeout toxic with timeout 0: a blackhole).
  void cut(chaos::stream_direction stream) {
    chaos::toxic_spec t;
    t.type = chaos::toxic_type::timeout;
    t.stream = stream;
    t.timeout = 0;
    t.name = std::string{"cut_"} + (stream == chaos::stream_direction::upstream ? "up" : "down");
    proxies_.add_toxic("db:node1", t);
  }
  void cut() {
    cut(chaos::stream_direction::upstream);
    cut(chaos::stream_direction::downstream);
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
// connect fails (2 s): unavailable; once healed the same key gives one order. The answers are cut before
// the COMMIT is sent (it still reaches the server): cut after the send, a fast server's answer could pass
// the proxy before the toxic is in place (it did under ASan), and the COMMIT would simply succeed.
TEST_F(database_link_test, a_commit_on_a_cut_link_is_unavailable_within_its_deadlines) {
  auto o = postgres_backend::options();
  bool armed = true;
  o.commit_hook = [&](std::string_view, bool sent, pg::connection&) {
    if (!armed) return;
    if (!sent) {
      cut(chaos::stream_direction::downstream);
    } else {
      armed = false;
      cut(chaos::stream_direction::upstream);
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

// The shop's flags for the links (`stampede shop --db-port/--db-via/--redis-port/--redis-via`): read and
// checked with the flag named, and node i's command line routed through the i-th address.
arg_list shop_args(std::vector<std::string> words) {
  static std::vector<std::string> keep;  // as replica_reads_test: the words outlive the parse
  keep = std::move(words);
  keep.insert(keep.begin(), "stampede-shop");
  std::vector<char*> argv;
  for (auto& w : keep) argv.push_back(w.data());
  return cli::parse(shop_spec(), argv);
}

TEST(data_link_flags, routes_each_node_through_its_address_and_names_a_bad_flag) {
  const auto o = parse_data_link_options(shop_args({"--db", "postgres", "--cache", "redis", "--db-port", "5432",
                                                    "--db-via", "127.0.0.1:7001,127.0.0.1:7002", "--redis-port",
                                                    "6400", "--redis-via", "127.0.0.1:7101,127.0.0.1:7102"}),
                                         2, "postgres", "redis");
  EXPECT_EQ(o.db_port, 5432);
  EXPECT_EQ(o.redis_port, 6400);
  std::vector<std::string> node2{"stampede", "shop-node", "--db-url", "postgresql://shop@127.0.0.1:5432/shop",
                                 "--db-pool", "8", "--cache", "redis", "--redis", "127.0.0.1:6400"};
  route_node_links(node2, o, 2);
  EXPECT_EQ(node2[3], "postgresql://shop@127.0.0.1:7002/shop");
  EXPECT_EQ(node2[9], "127.0.0.1:7102");
  // Without via lists the command line is unchanged (nothing happened).
  std::vector<std::string> plain{"--db-url", "postgresql://shop:pw@127.0.0.1:5432/shop", "--redis", "127.0.0.1:6400"};
  const auto before = plain;
  route_node_links(plain, parse_data_link_options(shop_args({}), 2, "postgres", "redis"), 1);
  EXPECT_EQ(plain, before);

  auto error_of = [](std::vector<std::string> words, const std::string& db, const std::string& cache) {
    try {
      (void)parse_data_link_options(shop_args(std::move(words)), 2, db, cache);
    } catch (const std::invalid_argument& e) {
      return std::string{e.what()};
    }
    return std::string{"(accepted)"};
  };
  EXPECT_EQ(error_of({"--db-via", "127.0.0.1:7001"}, "postgres", "local"), "--db-via needs one address per node");
  EXPECT_NE(error_of({"--db-via", "127.0.0.1:7001,nowhere"}, "postgres", "local").find("--db-via"),
            std::string::npos);
  EXPECT_EQ(error_of({"--db-port", "5432"}, "sqlite", "local"), "--db-port needs --db postgres");
  EXPECT_EQ(error_of({"--redis-via", "127.0.0.1:1,127.0.0.1:2"}, "postgres", "local"),
            "--redis-via needs --cache redis");
  EXPECT_NE(error_of({"--redis-port", "70000"}, "sqlite", "redis").find("--redis-port"), std::string::npos);
}

// --shards: each shard's URL in --db-shards routed through the node's address for that shard (shard 0 by
// --db-via, the others by --db-shard-via, shard-major), the shard servers' ports fixed by --db-shard-ports.
TEST(data_link_flags, routes_every_shard_of_each_node_through_its_own_address) {
  const auto o = parse_data_link_options(
      shop_args({"--db", "postgres", "--shards", "3", "--db-port", "5432", "--db-via",
                 "127.0.0.1:7001,127.0.0.1:7002", "--db-shard-ports", "5433,5434", "--db-shard-via",
                 "127.0.0.1:7011,127.0.0.1:7012,127.0.0.1:7021,127.0.0.1:7022"}),
      2, "postgres", "local", 3);
  EXPECT_EQ(o.db_shard_ports, (std::vector<uint16_t>{5433, 5434}));
  ASSERT_EQ(o.db_shard_via.size(), 2u);
  std::vector<std::string> node2{
      "--db-url",
      "postgresql://shop@127.0.0.1:5432/shop",
      "--db-shards",
      "postgresql://shop@127.0.0.1:5432/shop,postgresql://shop@127.0.0.1:5433/shop,"
      "postgresql://shop@127.0.0.1:5434/shop",
      "--txn",
      "2pc"};
  route_node_links(node2, o, 2);
  EXPECT_EQ(node2[1], "postgresql://shop@127.0.0.1:7002/shop");
  EXPECT_EQ(node2[3],
            "postgresql://shop@127.0.0.1:7002/shop,postgresql://shop@127.0.0.1:7012/shop,"
            "postgresql://shop@127.0.0.1:7022/shop");
  // Only shard 0 routed (no --db-shard-via): the other shards' URLs unchanged.
  const auto only0 = parse_data_link_options(shop_args({"--db-via", "127.0.0.1:7001,127.0.0.1:7002"}), 2,
                                             "postgres", "local", 2);
  std::vector<std::string> node1{"--db-shards",
                                 "postgresql://a@127.0.0.1:5432/shop,postgresql://a@127.0.0.1:5433/shop"};
  route_node_links(node1, only0, 1);
  EXPECT_EQ(node1[1], "postgresql://a@127.0.0.1:7001/shop,postgresql://a@127.0.0.1:5433/shop");

  auto error_of = [](std::vector<std::string> words, int64_t shards) {
    try {
      (void)parse_data_link_options(shop_args(std::move(words)), 2, "postgres", "local", shards);
    } catch (const std::invalid_argument& e) {
      return std::string{e.what()};
    }
    return std::string{"(accepted)"};
  };
  EXPECT_EQ(error_of({"--db-shard-ports", "5433"}, 1), "--db-shard-ports needs --shards 2 or more");
  EXPECT_EQ(error_of({"--db-shard-via", "127.0.0.1:1,127.0.0.1:2"}, 1),
            "--db-shard-via needs --shards 2 or more");
  EXPECT_EQ(error_of({"--db-shard-ports", "5433"}, 3),
            "--db-shard-ports needs one port per shard after shard 0 (--shards - 1)");
  EXPECT_NE(error_of({"--db-shard-ports", "5433,x"}, 3).find("--db-shard-ports are ports"),
            std::string::npos);
  EXPECT_EQ(
      error_of({"--db-shard-via", "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"}, 3),
      "--db-shard-via needs one address per node for each shard after shard 0 ((--shards - 1) x --nodes)");
}

}  // namespace
}  // namespace stampede::shop
