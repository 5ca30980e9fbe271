#include "reference_shop/sqlite_store.h"

#include <sqlite3.h>

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <random>
#include <thread>
#include <unordered_map>

#include "reference_shop/seed.h"

namespace stampede::shop {

namespace json = boost::json;

namespace {

std::atomic<uint64_t> next_instance_id{1};

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

order read_order_row(sqlite::statement& st) {
  // Columns: id, user_id, status, total, flash_sale_id, failure, created_at
  order o;
  o.id = st.int64(0);
  o.user_id = st.int64(1);
  o.status = st.text(2);
  o.total = st.int64(3);
  if (!st.is_null(4)) o.flash_sale_id = st.int64(4);
  o.failure = st.text(5);
  o.created_at = st.int64(6);
  return o;
}

int64_t meta_value(sqlite::connection& db, const char* key) {
  auto st = db.prepare("SELECT value FROM meta WHERE key = ?1");
  st.bind(1, key);
  return st.step() ? st.int64(0) : 0;
}

// FTS5 query from free text: every alphanumeric word becomes a quoted prefix term (implicit AND), so
// operators and quotes typed by users can never form FTS5 syntax.
std::string fts_query(std::string_view text) {
  std::string out;
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    if (!out.empty()) out += ' ';
    out += '"';
    out += word;
    out += "\"*";
    word.clear();
  };
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || u >= 0x80) {
      if (word.size() < 64) word += c;
    } else {
      flush();
    }
  }
  flush();
  return out;
}

product read_product(sqlite::statement& st) {
  // Columns: id, category_id, category, title, author, description, price, stock, pub_date
  product p;
  p.id = st.int64(0);
  p.category_id = st.int64(1);
  p.category = st.text(2);
  p.title = st.text(3);
  p.author = st.text(4);
  p.description = st.text(5);
  p.price = st.int64(6);
  p.stock = st.int64(7);
  p.pub_date = st.text(8);
  return p;
}

}  // namespace

sqlite_store::sqlite_store(std::string path, sqlite_store_options options)
    : path_(std::move(path)), options_(options), instance_id_(next_instance_id++) {
  db();  // fail early on a bad path
}

sqlite_store::~sqlite_store() = default;

sqlite::connection& sqlite_store::db() {
  // Connection per thread. Keyed by a never-reused instance id, so a thread's entries for destroyed stores
  // are simply never looked up again (the store owns and closes the connections).
  thread_local std::unordered_map<uint64_t, sqlite::connection*> mine;
  auto it = mine.find(instance_id_);
  if (it != mine.end()) return *it->second;
  auto conn = std::make_unique<sqlite::connection>(path_, sqlite::connection_options{options_.busy_timeout});
  auto* raw = conn.get();
  {
    std::lock_guard lock{mutex_};
    connections_.push_back(std::move(conn));
  }
  mine.emplace(instance_id_, raw);
  return *raw;
}

template <class F>
auto sqlite_store::write(F&& fn) {
  std::minstd_rand jitter{static_cast<unsigned>(std::hash<std::thread::id>{}(std::this_thread::get_id()))};
  for (int attempt = 0;; ++attempt) {
    try {
      auto& conn = db();
      sqlite::write_transaction tx{conn};
      return fn(conn, tx);
    } catch (const sqlite::error& e) {
      if (!e.busy() || attempt >= options_.busy_retries) throw;
      // Another process held the write lock past the busy timeout: back off with jitter and retry.
      std::this_thread::sleep_for(std::chrono::microseconds(500 + jitter() % 2000));
    }
  }
}

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

std::vector<category> sqlite_store::categories() {
  auto& conn = db();
  std::vector<category> out;
  auto st = conn.prepare(
      "SELECT c.id, c.name, (SELECT COUNT(*) FROM products p WHERE p.category_id = c.id) FROM categories c "
      "ORDER BY c.id");
  while (st.step()) out.push_back(category{st.int64(0), st.text(1), st.int64(2)});
  return out;
}

#define PRODUCT_COLUMNS \
  "p.id, p.category_id, c.name, p.title, p.author, p.description, p.price, p.stock, p.pub_date"

std::optional<product> sqlite_store::find_product(int64_t id) {
  auto& conn = db();
  auto st = conn.prepare("SELECT " PRODUCT_COLUMNS
                         " FROM products p JOIN categories c ON c.id = p.category_id WHERE p.id = ?1");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_product(st);
}

product_page sqlite_store::list_products(const product_query& query) {
  auto& conn = db();
  sqlite::read_transaction rt{conn};
  product_page page;
  const int64_t size = std::clamp<int64_t>(query.size, 1, 100);
  const int64_t offset = (std::max<int64_t>(query.page, 1) - 1) * size;
  const std::string match = fts_query(query.q);
  if (!query.q.empty() && match.empty()) return page;  // only punctuation: nothing can match
  const bool by_cat = query.category_id.has_value();
  auto fill = [&](sqlite::statement& st) {
    while (st.step()) page.items.push_back(read_product(st));
  };
  if (match.empty() && by_cat) {
    auto count = conn.prepare("SELECT COUNT(*) FROM products WHERE category_id = ?1");
    count.bind(1, *query.category_id);
    if (count.step()) page.total = count.int64(0);
    auto st = conn.prepare("SELECT " PRODUCT_COLUMNS
                           " FROM products p JOIN categories c ON c.id = p.category_id "
                           "WHERE p.category_id = ?1 ORDER BY p.id LIMIT ?2 OFFSET ?3");
    st.bind(1, *query.category_id).bind(2, size).bind(3, offset);
    fill(st);
  } else if (match.empty()) {
    auto count = conn.prepare("SELECT COUNT(*) FROM products");
    if (count.step()) page.total = count.int64(0);
    auto st = conn.prepare("SELECT " PRODUCT_COLUMNS
                           " FROM products p JOIN categories c ON c.id = p.category_id "
                           "ORDER BY p.id LIMIT ?1 OFFSET ?2");
    st.bind(1, size).bind(2, offset);
    fill(st);
  } else {
    auto count = conn.prepare(
        "SELECT COUNT(*) FROM products_fts f JOIN products p ON p.id = f.rowid "
        "WHERE products_fts MATCH ?1 AND (?2 IS NULL OR p.category_id = ?2)");
    count.bind(1, match).bind(2, query.category_id);
    if (count.step()) page.total = count.int64(0);
    auto st = conn.prepare("SELECT " PRODUCT_COLUMNS
                           " FROM products_fts f JOIN products p ON p.id = f.rowid "
                           "JOIN categories c ON c.id = p.category_id "
                           "WHERE products_fts MATCH ?1 AND (?2 IS NULL OR p.category_id = ?2) "
                           "ORDER BY f.rank, p.id LIMIT ?3 OFFSET ?4");
    st.bind(1, match).bind(2, query.category_id).bind(3, size).bind(4, offset);
    fill(st);
  }
  return page;
}

std::vector<int64_t> sqlite_store::product_ids() {
  auto& conn = db();
  std::vector<int64_t> ids;
  auto st = conn.prepare("SELECT id FROM products ORDER BY id");
  while (st.step()) ids.push_back(st.int64(0));
  return ids;
}

std::vector<bestseller> sqlite_store::bestsellers(int64_t recent_orders, int64_t limit) {
  auto& conn = db();
  std::vector<bestseller> out;
  auto st = conn.prepare(
      "SELECT ol.product_id, p.title, SUM(ol.qty) AS units FROM order_lines ol "
      "JOIN orders o ON o.id = ol.order_id JOIN products p ON p.id = ol.product_id "
      "WHERE ol.order_id > (SELECT COALESCE(MAX(id), 0) - ?1 FROM orders) AND o.status <> 'failed' "
      "GROUP BY ol.product_id ORDER BY units DESC, ol.product_id LIMIT ?2");
  st.bind(1, recent_orders).bind(2, limit);
  while (st.step()) out.push_back(bestseller{st.int64(0), st.text(1), st.int64(2)});
  return out;
}

std::optional<int64_t> sqlite_store::create_user(std::string_view email, std::string_view name,
                                                 std::string_view password_hash) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) -> std::optional<int64_t> {
    auto st = db.prepare(
        "INSERT INTO users(email, name, password_hash, created_at) VALUES (?1, ?2, ?3, "
        "CAST(strftime('%s','now') AS INTEGER) * 1000) ON CONFLICT(email) DO NOTHING RETURNING id");
    st.bind(1, email).bind(2, name).bind(3, password_hash);
    std::optional<int64_t> id;
    if (st.step()) id = st.int64(0);
    st.run();
    tx.commit();
    return id;
  });
}

std::optional<user_credentials> sqlite_store::find_user_by_email(std::string_view email) {
  auto& conn = db();
  auto st = conn.prepare("SELECT id, email, name, password_hash FROM users WHERE email = ?1");
  st.bind(1, email);
  if (!st.step()) return std::nullopt;
  return user_credentials{st.int64(0), st.text(1), st.text(2), st.text(3)};
}

void sqlite_store::create_session(std::string_view token, int64_t user_id, int64_t expires_at) {
  write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    auto st = db.prepare("INSERT INTO sessions(token, user_id, expires_at) VALUES (?1, ?2, ?3)");
    st.bind(1, token).bind(2, user_id).bind(3, expires_at).run();
    tx.commit();
    return 0;
  });
}

bool sqlite_store::delete_session(std::string_view token) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    auto st = db.prepare("DELETE FROM sessions WHERE token = ?1");
    st.bind(1, token).run();
    const bool deleted = db.changes() > 0;
    tx.commit();
    return deleted;
  });
}

std::optional<int64_t> sqlite_store::session_user(std::string_view token, int64_t now) {
  auto& conn = db();
  auto st = conn.prepare("SELECT user_id FROM sessions WHERE token = ?1 AND expires_at > ?2");
  st.bind(1, token).bind(2, now);
  if (!st.step()) return std::nullopt;
  return st.int64(0);
}

std::vector<cart_line> sqlite_store::cart(int64_t user_id) {
  auto& conn = db();
  std::vector<cart_line> out;
  auto st = conn.prepare(
      "SELECT ci.product_id, p.title, ci.qty, p.price FROM cart_items ci JOIN products p ON p.id = ci.product_id "
      "WHERE ci.user_id = ?1 ORDER BY ci.product_id");
  st.bind(1, user_id);
  while (st.step()) out.push_back(cart_line{st.int64(0), st.text(1), st.int64(2), st.int64(3)});
  return out;
}

cart_status sqlite_store::put_cart_item(int64_t user_id, int64_t product_id, int64_t qty, bool add) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    {
      auto exists = db.prepare("SELECT 1 FROM products WHERE id = ?1");
      exists.bind(1, product_id);
      if (!exists.step()) return cart_status::unknown_product;
    }
    auto st = db.prepare(add ? "INSERT INTO cart_items(user_id, product_id, qty) VALUES (?1, ?2, ?3) "
                               "ON CONFLICT(user_id, product_id) DO UPDATE SET qty = MIN(qty + excluded.qty, 1000)"
                             : "INSERT INTO cart_items(user_id, product_id, qty) VALUES (?1, ?2, ?3) "
                               "ON CONFLICT(user_id, product_id) DO UPDATE SET qty = excluded.qty");
    st.bind(1, user_id).bind(2, product_id).bind(3, qty).run();
    tx.commit();
    return cart_status::ok;
  });
}

cart_status sqlite_store::remove_cart_item(int64_t user_id, int64_t product_id) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    auto st = db.prepare("DELETE FROM cart_items WHERE user_id = ?1 AND product_id = ?2");
    st.bind(1, user_id).bind(2, product_id).run();
    const bool removed = db.changes() > 0;
    tx.commit();
    return removed ? cart_status::ok : cart_status::not_in_cart;
  });
}

std::vector<order_line> sqlite_store::order_lines(sqlite::connection& conn, int64_t order_id) {
  std::vector<order_line> lines;
  auto st = conn.prepare("SELECT product_id, qty, unit_price FROM order_lines WHERE order_id = ?1 ORDER BY product_id");
  st.bind(1, order_id);
  while (st.step()) lines.push_back(order_line{st.int64(0), st.int64(1), st.int64(2)});
  return lines;
}

std::optional<order> sqlite_store::load_order(sqlite::connection& conn, int64_t order_id) {
  std::optional<order> o;
  {
    auto st = conn.prepare(
        "SELECT id, user_id, status, total, flash_sale_id, failure, created_at FROM orders WHERE id = ?1");
    st.bind(1, order_id);
    if (!st.step()) return std::nullopt;
    o = read_order_row(st);
  }
  o->lines = order_lines(conn, order_id);
  return o;
}

checkout_result sqlite_store::checkout(int64_t user_id, std::string_view idempotency_key,
                                       std::string_view request_hash, const std::vector<line_request>& items,
                                       int64_t now) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    checkout_result result;
    if (!idempotency_key.empty()) {
      auto st = db.prepare("SELECT id, request_hash FROM orders WHERE user_id = ?1 AND idempotency_key = ?2");
      st.bind(1, user_id).bind(2, idempotency_key);
      if (st.step()) {
        const int64_t existing = st.int64(0);
        const bool same = st.text(1) == request_hash;
        st.run();
        if (!same) {
          result.status = checkout_status::key_conflict;
          return result;
        }
        result.status = checkout_status::replayed;
        result.placed = *load_order(db, existing);
        return result;
      }
    }
    // Merge duplicate lines; lock rows in product order.
    std::vector<line_request> lines;
    const bool from_cart = items.empty();
    if (from_cart) {
      auto st = db.prepare("SELECT product_id, qty FROM cart_items WHERE user_id = ?1 ORDER BY product_id");
      st.bind(1, user_id);
      while (st.step()) lines.push_back(line_request{st.int64(0), st.int64(1)});
    } else {
      lines = items;
      std::sort(lines.begin(), lines.end(), [](auto& a, auto& b) { return a.product_id < b.product_id; });
      std::vector<line_request> merged;
      for (const auto& l : lines) {
        if (!merged.empty() && merged.back().product_id == l.product_id) {
          merged.back().qty += l.qty;
        } else {
          merged.push_back(l);
        }
      }
      lines = std::move(merged);
    }
    if (lines.empty()) {
      result.status = checkout_status::empty_cart;
      return result;
    }
    std::vector<order_line> placed;
    int64_t total = 0;
    for (const auto& l : lines) {
      // The conditional decrement is the oversell guard: it cannot take stock below zero.
      auto st = db.prepare("UPDATE products SET stock = stock - ?2 WHERE id = ?1 AND stock >= ?2 RETURNING price");
      st.bind(1, l.product_id).bind(2, l.qty);
      if (!st.step()) {
        auto exists = db.prepare("SELECT 1 FROM products WHERE id = ?1");
        exists.bind(1, l.product_id);
        result.status = exists.step() ? checkout_status::out_of_stock : checkout_status::unknown_product;
        result.product_id = l.product_id;
        return result;  // rollback undoes earlier decrements
      }
      const int64_t price = st.int64(0);
      st.run();
      placed.push_back(order_line{l.product_id, l.qty, price});
      total += price * l.qty;
    }
    int64_t order_id = 0;
    {
      auto st = db.prepare(
          "INSERT INTO orders(user_id, status, total, line_count, idempotency_key, request_hash, created_at, "
          "updated_at) VALUES (?1, 'pending', ?2, ?3, ?4, ?5, ?6, ?6) RETURNING id");
      st.bind(1, user_id).bind(2, total).bind(3, static_cast<int64_t>(placed.size()));
      if (idempotency_key.empty()) {
        st.bind_null(4).bind_null(5);
      } else {
        st.bind(4, idempotency_key).bind(5, request_hash);
      }
      st.bind(6, now);
      st.step();
      order_id = st.int64(0);
      st.run();
    }
    for (const auto& l : placed) {
      auto st = db.prepare("INSERT INTO order_lines(order_id, product_id, qty, unit_price) VALUES (?1, ?2, ?3, ?4)");
      st.bind(1, order_id).bind(2, l.product_id).bind(3, l.qty).bind(4, l.unit_price).run();
    }
    {
      auto st = db.prepare(
          "INSERT INTO outbox(order_id, state, next_attempt_at, created_at, updated_at) "
          "VALUES (?1, 'pending', ?2, ?2, ?2)");
      st.bind(1, order_id).bind(2, now).run();
    }
    if (from_cart) {
      auto st = db.prepare("DELETE FROM cart_items WHERE user_id = ?1");
      st.bind(1, user_id).run();
    }
    tx.commit();
    result.status = checkout_status::created;
    result.placed = order{order_id, user_id, "pending", total, std::move(placed), std::nullopt, {}, now};
    return result;
  });
}

std::optional<order> sqlite_store::find_order(int64_t user_id, int64_t order_id) {
  auto& conn = db();
  sqlite::read_transaction rt{conn};
  auto o = load_order(conn, order_id);
  if (!o || o->user_id != user_id) return std::nullopt;  // another user's order does not exist for you
  return o;
}

std::vector<order> sqlite_store::list_orders(int64_t user_id, int64_t limit) {
  auto& conn = db();
  sqlite::read_transaction rt{conn};
  std::vector<order> out;
  {
    auto st = conn.prepare(
        "SELECT id, user_id, status, total, flash_sale_id, failure, created_at FROM orders WHERE user_id = ?1 "
        "ORDER BY id DESC LIMIT ?2");
    st.bind(1, user_id).bind(2, limit);
    while (st.step()) out.push_back(read_order_row(st));
  }
  for (auto& o : out) o.lines = order_lines(conn, o.id);
  return out;
}

std::optional<int64_t> sqlite_store::create_flash_sale(int64_t product_id, int64_t stock, int64_t price,
                                                       int64_t per_user_limit, int64_t starts_at) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) -> std::optional<int64_t> {
    auto st = db.prepare(
        "INSERT INTO flash_sales(product_id, price, stock, remaining, per_user_limit, starts_at) "
        "SELECT id, ?2, ?3, ?3, ?4, ?5 FROM products WHERE id = ?1 RETURNING id");
    st.bind(1, product_id).bind(2, price).bind(3, stock).bind(4, per_user_limit).bind(5, starts_at);
    if (!st.step()) return std::nullopt;
    const int64_t id = st.int64(0);
    st.run();
    tx.commit();
    return id;
  });
}

std::optional<flash_sale> sqlite_store::find_flash_sale(int64_t id) {
  auto& conn = db();
  auto st = conn.prepare(
      "SELECT id, product_id, price, stock, remaining, per_user_limit, starts_at FROM flash_sales WHERE id = ?1");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return flash_sale{st.int64(0), st.int64(1), st.int64(2), st.int64(3), st.int64(4), st.int64(5), st.int64(6)};
}

purchase_result sqlite_store::flash_purchase(int64_t sale_id, int64_t user_id, int64_t now) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    purchase_result result;
    int64_t product_id = 0, price = 0, limit = 0;
    {
      auto st = db.prepare("SELECT product_id, price, per_user_limit, starts_at FROM flash_sales WHERE id = ?1");
      st.bind(1, sale_id);
      if (!st.step()) {
        result.status = purchase_status::unknown_sale;
        return result;
      }
      product_id = st.int64(0);
      price = st.int64(1);
      limit = st.int64(2);
      if (now < st.int64(3)) {
        result.status = purchase_status::not_started;
        return result;
      }
    }
    {
      auto st = db.prepare("SELECT count FROM flash_purchases WHERE sale_id = ?1 AND user_id = ?2");
      st.bind(1, sale_id).bind(2, user_id);
      if (st.step() && st.int64(0) >= limit) {
        result.status = purchase_status::already_bought;
        return result;
      }
    }
    {
      auto st = db.prepare("UPDATE flash_sales SET remaining = remaining - 1 WHERE id = ?1 AND remaining >= 1");
      st.bind(1, sale_id).run();
      if (db.changes() == 0) {
        result.status = purchase_status::sold_out;
        return result;
      }
    }
    {
      auto st = db.prepare(
          "INSERT INTO flash_purchases(sale_id, user_id, count) VALUES (?1, ?2, 1) "
          "ON CONFLICT(sale_id, user_id) DO UPDATE SET count = count + 1");
      st.bind(1, sale_id).bind(2, user_id).run();
    }
    {
      auto st = db.prepare(
          "INSERT INTO orders(user_id, status, total, line_count, flash_sale_id, created_at, updated_at) "
          "VALUES (?1, 'pending', ?2, 1, ?3, ?4, ?4) RETURNING id");
      st.bind(1, user_id).bind(2, price).bind(3, sale_id).bind(4, now);
      st.step();
      result.order_id = st.int64(0);
      st.run();
    }
    {
      auto st = db.prepare("INSERT INTO order_lines(order_id, product_id, qty, unit_price) VALUES (?1, ?2, 1, ?3)");
      st.bind(1, result.order_id).bind(2, product_id).bind(3, price).run();
    }
    {
      auto st = db.prepare(
          "INSERT INTO outbox(order_id, state, next_attempt_at, created_at, updated_at) "
          "VALUES (?1, 'pending', ?2, ?2, ?2)");
      st.bind(1, result.order_id).bind(2, now).run();
    }
    tx.commit();
    result.status = purchase_status::created;
    return result;
  });
}

std::vector<outbox_message> sqlite_store::claim_outbox(std::string_view owner, int64_t now, int64_t lease_ms,
                                                       int64_t max) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    std::vector<outbox_message> out;
    {
      auto st = db.prepare(
          "UPDATE outbox SET state = 'in_flight', lease_owner = ?1, lease_until = ?2, attempts = attempts + 1, "
          "updated_at = ?3 WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?3 "
          "UNION ALL SELECT id FROM outbox WHERE state = 'in_flight' AND lease_until < ?3 ORDER BY 1 LIMIT ?4) "
          "RETURNING id, order_id, attempts");
      st.bind(1, owner).bind(2, now + lease_ms).bind(3, now).bind(4, max);
      while (st.step()) out.push_back(outbox_message{st.int64(0), st.int64(1), st.int64(2), 0});
    }
    for (auto& m : out) {
      auto st = db.prepare("SELECT total FROM orders WHERE id = ?1");
      st.bind(1, m.order_id);
      if (st.step()) m.amount = st.int64(0);
    }
    tx.commit();
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
    return out;
  });
}

namespace {

// Moves a leased message on; false when `owner` lost the lease (another worker now owns the message).
bool settle_message(sqlite::connection& db, const outbox_message& m, std::string_view owner, const char* state,
                    std::string_view error, int64_t next_attempt_at, int64_t now) {
  auto st = db.prepare(
      "UPDATE outbox SET state = ?3, lease_owner = NULL, lease_until = NULL, last_error = ?4, "
      "next_attempt_at = ?5, updated_at = ?6 WHERE id = ?1 AND state = 'in_flight' AND lease_owner = ?2");
  st.bind(1, m.id).bind(2, owner).bind(3, state);
  if (error.empty()) {
    st.bind_null(4);
  } else {
    st.bind(4, error);
  }
  st.bind(5, next_attempt_at).bind(6, now).run();
  return db.changes() > 0;
}

}  // namespace

bool sqlite_store::complete_payment(const outbox_message& m, std::string_view owner, std::string_view gateway_ref,
                                    int64_t now) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    if (!settle_message(db, m, owner, "done", {}, now, now)) return false;
    {
      auto st = db.prepare("UPDATE orders SET status = 'paid', updated_at = ?2 WHERE id = ?1 AND status = 'pending'");
      st.bind(1, m.order_id).bind(2, now).run();
    }
    {
      auto st = db.prepare(
          "INSERT INTO payments(order_id, kind, amount, gateway_ref, created_at) VALUES (?1, 'capture', ?2, ?3, ?4) "
          "ON CONFLICT(order_id, kind) DO NOTHING");
      st.bind(1, m.order_id).bind(2, m.amount).bind(3, gateway_ref).bind(4, now).run();
    }
    tx.commit();
    return true;
  });
}

void sqlite_store::release_stock(sqlite::connection& db, int64_t order_id) {
  int64_t user_id = 0;
  std::optional<int64_t> sale;
  {
    auto st = db.prepare("SELECT user_id, flash_sale_id FROM orders WHERE id = ?1");
    st.bind(1, order_id);
    if (!st.step()) return;
    user_id = st.int64(0);
    if (!st.is_null(1)) sale = st.int64(1);
  }
  if (sale) {
    auto st = db.prepare("UPDATE flash_sales SET remaining = remaining + 1 WHERE id = ?1");
    st.bind(1, *sale).run();
    auto pu = db.prepare("UPDATE flash_purchases SET count = count - 1 WHERE sale_id = ?1 AND user_id = ?2 AND count > 0");
    pu.bind(1, *sale).bind(2, user_id).run();
    return;
  }
  for (const auto& line : order_lines(db, order_id)) {
    auto st = db.prepare("UPDATE products SET stock = stock + ?2 WHERE id = ?1");
    st.bind(1, line.product_id).bind(2, line.qty).run();
  }
}

bool sqlite_store::fail_payment(const outbox_message& m, std::string_view owner, std::string_view reason,
                                bool dead_letter, int64_t now) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    if (!settle_message(db, m, owner, dead_letter ? "dead" : "done", reason, now, now)) return false;
    auto st = db.prepare(
        "UPDATE orders SET status = 'failed', failure = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'pending'");
    st.bind(1, m.order_id).bind(2, reason).bind(3, now).run();
    if (db.changes() > 0) release_stock(db, m.order_id);  // only on the transition: released once
    tx.commit();
    return true;
  });
}

bool sqlite_store::retry_payment(const outbox_message& m, std::string_view owner, std::string_view error,
                                 int64_t next_attempt_at) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    if (!settle_message(db, m, owner, "pending", error, next_attempt_at, next_attempt_at)) return false;
    tx.commit();
    return true;
  });
}

void sqlite_store::record_refund(int64_t order_id, int64_t amount, std::string_view gateway_ref, int64_t now) {
  write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    auto st = db.prepare(
        "INSERT INTO payments(order_id, kind, amount, gateway_ref, created_at) VALUES (?1, 'refund', ?2, ?3, ?4) "
        "ON CONFLICT(order_id, kind) DO NOTHING");
    st.bind(1, order_id).bind(2, amount).bind(3, gateway_ref).bind(4, now).run();
    tx.commit();
    return 0;
  });
}

int64_t sqlite_store::outbox_due(int64_t now) {
  auto& conn = db();
  auto st = conn.prepare(
      "SELECT (SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1) + "
      "(SELECT COUNT(*) FROM outbox WHERE state = 'in_flight' AND lease_until < ?1)");
  st.bind(1, now);
  return st.step() ? st.int64(0) : 0;
}

json::object sqlite_store::audit() {
  auto& conn = db();
  sqlite::read_transaction rt{conn};
  json::object out;
  out["generation"] = meta_value(conn, "generation");
  out["scale"] = meta_value(conn, "scale");
  {
    // Per SKU; SKUs whose stock never moved (initial = remaining, nothing sold) are only in the totals.
    json::array skus;
    int64_t initial = 0, remaining = 0, sold = 0, count = 0;
    auto st = conn.prepare(
        "SELECT p.id, p.initial_stock, p.stock, COALESCE((SELECT SUM(ol.qty) FROM order_lines ol JOIN orders o "
        "ON o.id = ol.order_id WHERE ol.product_id = p.id AND o.flash_sale_id IS NULL AND o.status IN "
        "('pending', 'paid')), 0) FROM products p ORDER BY p.id");
    while (st.step()) {
      ++count;
      initial += st.int64(1);
      remaining += st.int64(2);
      sold += st.int64(3);
      if (st.int64(1) != st.int64(2) || st.int64(3) != 0) {
        skus.push_back(json::object{{"product_id", st.int64(0)},
                                    {"initial_stock", st.int64(1)},
                                    {"remaining", st.int64(2)},
                                    {"sold", st.int64(3)}});
      }
    }
    out["skus"] = std::move(skus);
    out["sku_totals"] =
        json::object{{"skus", count}, {"initial_stock", initial}, {"remaining", remaining}, {"sold", sold}};
  }
  {
    json::object states{{"pending", 0}, {"paid", 0}, {"failed", 0}, {"archived", 0}};
    auto st = conn.prepare("SELECT status, COUNT(*) FROM orders GROUP BY status");
    while (st.step()) states[st.text(0)] = st.int64(1);
    out["orders_by_state"] = std::move(states);
  }
  {
    // Every live (non-archived) order with its payments, for money reconciliation.
    json::array orders;
    auto st = conn.prepare(
        "SELECT o.id, o.user_id, o.status, o.total, o.flash_sale_id, "
        "COALESCE((SELECT amount FROM payments WHERE order_id = o.id AND kind = 'capture'), 0), "
        "COALESCE((SELECT amount FROM payments WHERE order_id = o.id AND kind = 'refund'), 0), "
        "o.idempotency_key FROM orders o WHERE o.status <> 'archived' ORDER BY o.id");
    while (st.step()) {
      json::object o{{"order_id", st.int64(0)}, {"user_id", st.int64(1)},  {"status", st.text(2)},
                     {"total", st.int64(3)},    {"captured", st.int64(5)}, {"refunded", st.int64(6)}};
      if (!st.is_null(4)) o["flash_sale_id"] = st.int64(4);
      if (!st.is_null(7)) o["idempotency_key"] = st.text(7);
      orders.push_back(std::move(o));
    }
    out["orders"] = std::move(orders);
  }
  {
    json::array sales;
    auto st = conn.prepare(
        "SELECT s.id, s.product_id, s.stock, s.remaining, s.per_user_limit, (SELECT COUNT(*) FROM orders o "
        "WHERE o.flash_sale_id = s.id AND o.status IN ('pending', 'paid')) FROM flash_sales s ORDER BY s.id");
    while (st.step()) {
      sales.push_back(json::object{{"sale_id", st.int64(0)},
                                   {"product_id", st.int64(1)},
                                   {"stock", st.int64(2)},
                                   {"remaining", st.int64(3)},
                                   {"per_user_limit", st.int64(4)},
                                   {"sold", st.int64(5)},
                                   {"purchases", json::array{}}});
    }
    for (auto& s : sales) {
      auto& sale = s.as_object();
      auto pu = conn.prepare("SELECT user_id, count FROM flash_purchases WHERE sale_id = ?1 AND count > 0 ORDER BY user_id");
      pu.bind(1, sale["sale_id"].as_int64());
      auto& purchases = sale["purchases"].as_array();
      while (pu.step()) purchases.push_back(json::object{{"user_id", pu.int64(0)}, {"count", pu.int64(1)}});
    }
    out["flash_sales"] = std::move(sales);
  }
  {
    json::object states{{"pending", 0}, {"in_flight", 0}, {"done", 0}, {"dead", 0}};
    auto st = conn.prepare("SELECT state, COUNT(*) FROM outbox GROUP BY state");
    while (st.step()) states[st.text(0)] = st.int64(1);
    out["outbox"] = std::move(states);
    json::array dead;
    auto dl = conn.prepare("SELECT order_id, attempts, COALESCE(last_error, '') FROM outbox WHERE state = 'dead' ORDER BY id");
    while (dl.step()) {
      dead.push_back(json::object{{"order_id", dl.int64(0)}, {"attempts", dl.int64(1)}, {"last_error", dl.text(2)}});
    }
    out["dead_letters"] = std::move(dead);
  }
  {
    auto st = conn.prepare(
        "SELECT COALESCE(SUM(CASE kind WHEN 'capture' THEN amount END), 0), "
        "COALESCE(SUM(CASE kind WHEN 'refund' THEN amount END), 0) FROM payments");
    if (st.step()) out["payments"] = json::object{{"captured", st.int64(0)}, {"refunded", st.int64(1)}};
  }
  return out;
}

store_gauges sqlite_store::gauges() {
  auto& conn = db();
  sqlite::read_transaction rt{conn};
  store_gauges g;
  {
    auto st = conn.prepare("SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY status");
    while (st.step()) g.orders_by_state.emplace_back(st.text(0), st.int64(1));
  }
  {
    auto st = conn.prepare("SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state");
    while (st.step()) g.outbox_by_state.emplace_back(st.text(0), st.int64(1));
  }
  {
    auto st = conn.prepare("SELECT COALESCE(SUM(stock), 0) FROM products");
    if (st.step()) g.stock_units = st.int64(0);
  }
  {
    auto st = conn.prepare("SELECT COALESCE(SUM(remaining), 0) FROM flash_sales");
    if (st.step()) g.flash_remaining = st.int64(0);
  }
  return g;
}

}  // namespace stampede::shop
