#include "reference_shop/data_tier.h"

#include <cstdio>
#include <stdexcept>

#include "reference_shop/seed.h"
#include "reference_shop/store_factory.h"

namespace stampede::shop {

namespace json = boost::json;

namespace {

constexpr const char* shop_role = "shop";
constexpr const char* shop_database = "shop";
// Sessions beyond the nodes' pools: the supervisor's own, a respawned node whose predecessor's sessions
// are still closing, an operator's psql, superuser_reserved_connections (3).
constexpr int spare_connections = 20;

}  // namespace

data_tier::data_tier(data_tier_options options) : options_(std::move(options)) {
  if (options_.kind != "sqlite" && options_.kind != "postgres") {
    throw std::invalid_argument("--db must be sqlite or postgres");
  }
}

data_tier::~data_tier() = default;

void data_tier::start() {
  if (options_.kind != "postgres") return;
  postgres_server_options po;
  po.bin_dir = options_.pg_bin_dir;
  po.dir = options_.data / "postgres";
  po.max_connections = static_cast<int>(options_.nodes) * options_.pool_size + spare_connections;
  server_ = std::make_unique<postgres_server>(po);
  server_->init();
  server_->start();
  password_ = random_token();
  server_->ensure_database(shop_role, password_, shop_database);
}

void data_tier::prepare(int64_t scale, bool reseed, kdf_cost kdf) {
  store_config config;
  if (server_) {
    config.postgres_url = server_->url(shop_role, password_, shop_database);
    config.pool_size = 1;
    config.application_name = "stampede-shop-supervisor";
  } else {
    config.sqlite_path = (options_.data / "shop.db").string();
  }
  auto db = open_store(config);
  db->migrate();
  if (!db->seeded() || reseed) {
    std::fprintf(stderr, "stampede shop: seeding %s at scale %lld\n", description().c_str(),
                 static_cast<long long>(scale));
    db->reseed(scale, hash_password(seed_password, kdf));
  }
}

std::vector<std::string> data_tier::node_args() const {
  if (!server_) return {"--db", (options_.data / "shop.db").string()};
  return {"--db-url", server_->url(shop_role, "", shop_database), "--db-pool",
          std::to_string(options_.pool_size)};
}

// The password travels in the environment, not on command lines that every user can read in ps.
std::vector<std::pair<std::string, std::string>> data_tier::node_env() const {
  if (!server_) return {};
  return {{"PGPASSWORD", password_}};
}

json::object data_tier::topology() const {
  if (!server_) return json::object{{"kind", "sqlite"}, {"path", (options_.data / "shop.db").string()}};
  return json::object{{"kind", "postgres"},
                      {"role", "primary"},
                      {"pid", server_->pid()},
                      {"port", server_->port()},
                      {"data_dir", server_->data_dir().string()},
                      {"log", server_->log_path().string()},
                      {"pool_per_node", options_.pool_size},
                      // A test password made for this run, as the admin token next to it.
                      {"url", server_->url(shop_role, password_, shop_database)}};
}

std::string data_tier::description() const {
  if (!server_) return (options_.data / "shop.db").string();
  return "PostgreSQL on 127.0.0.1:" + std::to_string(server_->port()) + " (" + server_->data_dir().string() +
         ")";
}

void data_tier::release() noexcept {
  if (server_) server_->release();
}

}  // namespace stampede::shop
