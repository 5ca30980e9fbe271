// The SQLite store's connections, catalogue, accounts and carts. The schema and seed are in
// sqlite_schema.cpp, orders and the outbox in sqlite_orders.cpp, the audit in sqlite_audit.cpp.
#include <cctype>
#include <unordered_map>

#include "reference_shop/sqlite_store_detail.h"

namespace stampede::shop {

namespace {

std::atomic<uint64_t> next_instance_id{1};

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

}  // namespace stampede::shop
