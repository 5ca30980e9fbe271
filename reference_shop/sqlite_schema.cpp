// The SQLite store's schema: versioned migrations, the seed (reseed) and the meta table.
#include "reference_shop/seed.h"
#include "reference_shop/sqlite_store_detail.h"

namespace stampede::shop {

namespace {

// Versioned schema. Never edit a shipped migration: append a new one.
struct migration {
  int version;
  const char* sql;
};

constexpr migration migrations[] = {
    {1, R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES ('generation', 0), ('scale', 0);
CREATE TABLE categories(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE products(
  id INTEGER PRIMARY KEY,
  category_id INTEGER NOT NULL REFERENCES categories(id),
  title TEXT NOT NULL, author TEXT NOT NULL, description TEXT NOT NULL,
  price INTEGER NOT NULL CHECK (price >= 0),
  pub_date TEXT NOT NULL,
  initial_stock INTEGER NOT NULL,
  stock INTEGER NOT NULL CHECK (stock >= 0));
CREATE INDEX products_by_category ON products(category_id, id);
CREATE VIRTUAL TABLE products_fts USING fts5(title, author, description, content='products', content_rowid='id');
CREATE TABLE users(
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE sessions(token TEXT PRIMARY KEY, user_id INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE TABLE cart_items(
  user_id INTEGER NOT NULL, product_id INTEGER NOT NULL, qty INTEGER NOT NULL CHECK (qty > 0),
  PRIMARY KEY (user_id, product_id)) WITHOUT ROWID;
CREATE TABLE orders(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL,
  status TEXT NOT NULL,
  total INTEGER NOT NULL,
  line_count INTEGER NOT NULL,
  idempotency_key TEXT,
  request_hash TEXT,
  flash_sale_id INTEGER,
  failure TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE UNIQUE INDEX orders_by_idempotency_key ON orders(user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_by_user ON orders(user_id, id);
CREATE INDEX orders_by_status ON orders(status);
CREATE INDEX orders_by_flash_sale ON orders(flash_sale_id, status) WHERE flash_sale_id IS NOT NULL;
CREATE TABLE order_lines(
  order_id INTEGER NOT NULL, product_id INTEGER NOT NULL, qty INTEGER NOT NULL CHECK (qty > 0),
  unit_price INTEGER NOT NULL,
  PRIMARY KEY (order_id, product_id)) WITHOUT ROWID;
CREATE INDEX order_lines_by_product ON order_lines(product_id);
CREATE TABLE outbox(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  order_id INTEGER NOT NULL UNIQUE,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_until INTEGER,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
CREATE INDEX outbox_leases ON outbox(state, lease_until);
CREATE TABLE payments(
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('capture', 'refund')),
  amount INTEGER NOT NULL,
  gateway_ref TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (order_id, kind));
CREATE TABLE flash_sales(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  product_id INTEGER NOT NULL REFERENCES products(id),
  price INTEGER NOT NULL CHECK (price >= 0),
  stock INTEGER NOT NULL CHECK (stock >= 0),
  remaining INTEGER NOT NULL CHECK (remaining >= 0),
  per_user_limit INTEGER NOT NULL CHECK (per_user_limit > 0),
  starts_at INTEGER NOT NULL);
CREATE TABLE flash_purchases(
  sale_id INTEGER NOT NULL, user_id INTEGER NOT NULL, count INTEGER NOT NULL CHECK (count >= 0),
  PRIMARY KEY (sale_id, user_id)) WITHOUT ROWID;
)sql"},
};

}  // namespace

namespace sqlite_detail {

int64_t meta_value(sqlite::connection& db, const char* key) {
  auto st = db.prepare("SELECT value FROM meta WHERE key = ?1");
  st.bind(1, key);
  return st.step() ? st.int64(0) : 0;
}

}  // namespace sqlite_detail

using sqlite_detail::meta_value;

void sqlite_store::migrate() {
  write([](sqlite::connection& db, sqlite::write_transaction& tx) {
    db.exec("CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
    int current = 0;
    {
      auto st = db.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
      if (st.step()) current = static_cast<int>(st.int64(0));
    }
    for (const auto& m : migrations) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      auto st = db.prepare("INSERT INTO schema_migrations(version, applied_at) VALUES (?1, strftime('%s','now'))");
      st.bind(1, m.version).run();
    }
    tx.commit();
    return 0;
  });
}

int sqlite_store::schema_version() {
  auto& conn = db();
  auto st = conn.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  return st.step() ? static_cast<int>(st.int64(0)) : 0;
}

void sqlite_store::reseed(int64_t scale, std::string_view password_hash) {
  const seed_plan plan = make_seed_plan(scale);
  write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    db.exec(
        "DELETE FROM flash_purchases; DELETE FROM flash_sales; DELETE FROM payments; DELETE FROM outbox;"
        "DELETE FROM order_lines; DELETE FROM orders; DELETE FROM cart_items; DELETE FROM sessions;"
        "DELETE FROM users; DELETE FROM products; DELETE FROM categories;");
    {
      for (size_t i = 0; i < plan.categories.size(); ++i) {
        auto st = db.prepare("INSERT INTO categories(id, name) VALUES (?1, ?2)");
        st.bind(1, static_cast<int64_t>(i + 1)).bind(2, plan.categories[i]).run();
      }
    }
    seed_generator gen{plan};
    {
      for (int64_t id = 1; id <= plan.items; ++id) {
        const seed_item item = gen.item(id);
        auto st = db.prepare(
            "INSERT INTO products(id, category_id, title, author, description, price, pub_date, initial_stock, "
            "stock) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)");
        st.bind(1, id).bind(2, item.category_id).bind(3, item.title).bind(4, item.author);
        st.bind(5, item.description).bind(6, item.price).bind(7, item.pub_date).bind(8, item.stock);
        st.run();
      }
    }
    for (int64_t id = 1; id <= plan.customers; ++id) {
      auto st = db.prepare("INSERT INTO users(id, email, name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, 0)");
      st.bind(1, id).bind(2, seed_customer_email(id)).bind(3, gen.customer_name(id)).bind(4, password_hash);
      st.run();
    }
    // Order history (TPC-W ORDERS/ORDER_LINE) for best sellers: archived, already reflected in stock.
    for (int64_t id = 1; id <= plan.orders; ++id) {
      const seed_order so = gen.order(id);
      int64_t total = 0;
      for (const auto& line : so.lines) {
        auto st = db.prepare("INSERT OR IGNORE INTO order_lines(order_id, product_id, qty, unit_price) "
                             "SELECT ?1, id, ?3, price FROM products WHERE id = ?2 RETURNING unit_price");
        st.bind(1, id).bind(2, line.product_id).bind(3, line.qty);
        while (st.step()) total += st.int64(0) * line.qty;
      }
      auto st = db.prepare(
          "INSERT INTO orders(id, user_id, status, total, line_count, created_at, updated_at) "
          "VALUES (?1, ?2, 'archived', ?3, (SELECT COUNT(*) FROM order_lines WHERE order_id = ?1), ?4, ?4)");
      st.bind(1, id).bind(2, so.user_id).bind(3, total).bind(4, so.created_at).run();
    }
    {
      // The standing flash sale: 1,000 units of product 1, one per user, already started.
      auto st = db.prepare(
          "INSERT INTO flash_sales(product_id, price, stock, remaining, per_user_limit, starts_at) "
          "VALUES (1, (SELECT price / 2 FROM products WHERE id = 1), 1000, 1000, 1, 0)");
      st.run();
    }
    db.exec("INSERT INTO products_fts(products_fts) VALUES ('rebuild')");
    {
      auto st = db.prepare("UPDATE meta SET value = CASE key WHEN 'generation' THEN value + 1 ELSE ?1 END");
      st.bind(1, scale).run();
    }
    tx.commit();
    return 0;
  });
}

bool sqlite_store::seeded() { return meta_value(db(), "scale") > 0; }

int64_t sqlite_store::data_generation() { return meta_value(db(), "generation"); }

}  // namespace stampede::shop
