// The PostgreSQL store: the transaction runner (isolation, retries, unknown commits), the catalogue, users,
// sessions and carts. Orders, flash sales and the outbox are in postgres_orders.cpp, the schema and seed in
// postgres_schema.cpp, the audit in postgres_audit.cpp.
#include "reference_shop/postgres_store.h"

#include <algorithm>
#include <cctype>
#include <random>
#include <thread>

namespace stampede::shop {

namespace {

// Search text -> tsquery text: every word (letters and digits, or valid UTF-8 beyond ASCII) becomes a
// prefix term (`word:*`), all required, as the SQLite store's FTS5 query; nothing a user types can form
// tsquery syntax. `prefix` = false gives the whole-word query used to rank exact words first.
std::string tsquery_text(std::string_view text, bool prefix) {
  std::string out, word;
  auto flush = [&] {
    if (word.empty()) return;
    if (!out.empty()) out += " & ";
    out += word;
    if (prefix) out += ":*";
    word.clear();
  };
  for (size_t i = 0; i < text.size();) {
    const auto u = static_cast<unsigned char>(text[i]);
    size_t len = u < 0x80 ? 1 : (u >> 5) == 0x6 ? 2 : (u >> 4) == 0xe ? 3 : (u >> 3) == 0x1e ? 4 : 0;
    bool valid = len > 0 && i + len <= text.size();
    for (size_t k = 1; valid && k < len; ++k)
      valid = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    if (!valid) {  // a stray byte separates words (PostgreSQL would refuse invalid UTF-8)
      flush();
      ++i;
      continue;
    }
    if (len > 1 || std::isalnum(u) != 0) {
      if (word.size() + len <= 64) word.append(text.substr(i, len));
    } else {
      flush();
    }
    i += len;
  }
  flush();
  return out;
}

product read_product(const pg::result& r, int row) {
  // Columns: id, category_id, category, title, author, description, price, stock, pub_date
  return product{r.int64(row, 0), r.int64(row, 1), r.text(row, 2),  r.text(row, 3), r.text(row, 4),
                 r.text(row, 5),  r.int64(row, 6), r.int64(row, 7), r.text(row, 8)};
}

constexpr const char* product_columns =
    "p.id, p.category_id, c.name, p.title, p.author, p.description, p.price, p.stock, p.pub_date";

std::string select_products(std::string_view rest) {
  return std::string{"SELECT "} + product_columns +
         " FROM products p JOIN categories c ON c.id = p.category_id " + std::string{rest};
}

}  // namespace

postgres_store::postgres_store(std::string conninfo, postgres_store_options options)
    : options_(std::move(options)), pool_(std::move(conninfo), options_.pool) {}

postgres_store::~postgres_store() = default;

// A run after an unknown commit may have read what the first run committed on the primary alone: a primary
// shows its commits before a synchronous standby has them, and a canceled wait does not undo them. The
// COMMIT of a transaction that wrote WAL waits for the standby up to its own place in the WAL, so this one,
// which writes only a logical message (no table, any role, any wal_level), makes all before it as durable
// as an ordinary commit before the answer goes out. (A transaction id alone writes no WAL and does not
// wait.) Throws what commit() throws: connection_lost, so the runner runs again or gives up (503).
void postgres_store::wait_until_durable(pg::connection& db, bool& committing) {
  db.exec("BEGIN");
  db.exec("SELECT pg_logical_emit_message(true, 'stampede', 'durability barrier')");
  committing = true;
  db.commit();
}

void postgres_store::run(std::string_view name, mode m, const body& fn) {
  thread_local std::minstd_rand jitter{std::random_device{}()};
  bool after_unknown_commit = false;
  for (int attempt = 1;; ++attempt) {
    const bool last = attempt >= options_.max_attempts;
    auto lease = pool_.acquire();  // store_unavailable when none frees up in time
    pg::connection& db = *lease;
    bool committing = false;
    transaction tx;
    tx.after_unknown_commit_ = after_unknown_commit;
    try {
      if (m == mode::snapshot) db.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      if (m == mode::write) db.exec("BEGIN ISOLATION LEVEL READ COMMITTED");
      fn(db, tx);
      if (m == mode::read) return;
      if (!tx.commit_) {
        db.exec("ROLLBACK");
        if (after_unknown_commit && m == mode::write) wait_until_durable(db, committing);
        return;
      }
      if (options_.commit_hook) options_.commit_hook(name, false, db);
      // Killed while idle between statements: nothing committed, so running again is safe.
      if (db.ended_by_server()) throw pg::error("", "the server ended the session before COMMIT", true);
      committing = true;
      if (options_.commit_hook) {
        db.commit([&] { options_.commit_hook(name, true, db); });
      } else {
        db.commit();
      }
      if (after_unknown_commit && m == mode::write) wait_until_durable(db, committing);
      return;
    } catch (const rerun_transaction&) {
      try {
        db.exec("ROLLBACK");
      } catch (const pg::error&) {
        lease.discard();
      }
      if (last) throw store_unavailable(std::string{name} + ": kept conflicting with concurrent requests");
      continue;
    } catch (const pg::error& e) {
      if (e.connection_lost()) {
        lease.discard();
        pool_.drop_idle();  // the server went away: the other idle sessions are most likely dead too
        // A read-only transaction changes nothing: its commit is never in doubt.
        if (committing && m == mode::write) {
          if (!tx.rerun_safe_) {
            throw store_unavailable(
                std::string{name} +
                ": the database connection was lost while committing; the outcome is unknown");
          }
          after_unknown_commit = true;
        }
        if (last) throw store_unavailable(std::string{name} + ": database connection lost: " + e.reason());
        continue;  // a fresh session
      }
      try {
        if (m != mode::read) db.exec("ROLLBACK");
      } catch (const pg::error&) {
        lease.discard();
      }
      if (e.retryable() && !last) {
        // Serialization failure or deadlock: the server rolled back; back off a little, with jitter.
        std::this_thread::sleep_for(std::chrono::microseconds(200 * attempt + jitter() % 1000));
        continue;
      }
      if (e.retryable()) throw store_unavailable(std::string{name} + ": conflicts persisted: " + e.reason());
      if (e.canceled()) throw store_unavailable(std::string{name} + ": statement timeout: " + e.reason());
      throw;  // a bug or a violated constraint: the node answers 500
    }
  }
}

std::vector<category> postgres_store::categories() {
  std::vector<category> out;
  run("categories", mode::read, [&](pg::connection& db, transaction&) {
    out.clear();
    auto r = db.query(
        "SELECT c.id, c.name, (SELECT COUNT(*) FROM products p WHERE p.category_id = c.id) FROM categories c "
        "ORDER BY c.id");
    for (int i = 0; i < r.rows(); ++i) out.push_back(category{r.int64(i, 0), r.text(i, 1), r.int64(i, 2)});
  });
  return out;
}

std::optional<product> postgres_store::find_product(int64_t id) {
  std::optional<product> out;
  run("find_product", mode::read, [&](pg::connection& db, transaction&) {
    auto r = db.query(select_products("WHERE p.id = $1"), id);
    out = r.rows() > 0 ? std::optional{read_product(r, 0)} : std::nullopt;
  });
  return out;
}

product_page postgres_store::list_products(const product_query& query) {
  product_page page;
  const int64_t size = std::clamp<int64_t>(query.size, 1, 100);
  const int64_t offset = (std::max<int64_t>(query.page, 1) - 1) * size;
  const std::string match = tsquery_text(query.q, true);
  if (!query.q.empty() && match.empty()) return page;  // only punctuation: nothing can match
  const std::string exact = tsquery_text(query.q, false);
  run("list_products", mode::snapshot, [&](pg::connection& db, transaction& tx) {
    page = {};
    const std::optional<int64_t> category = query.category_id;
    if (match.empty() && category) {
      page.total = db.query("SELECT COUNT(*) FROM products WHERE category_id = $1", *category).int64(0, 0);
      auto r = db.query(select_products("WHERE p.category_id = $1 ORDER BY p.id LIMIT $2 OFFSET $3"),
                        *category, size, offset);
      for (int i = 0; i < r.rows(); ++i) page.items.push_back(read_product(r, i));
    } else if (match.empty()) {
      page.total = db.query("SELECT COUNT(*) FROM products").int64(0, 0);
      auto r = db.query(select_products("ORDER BY p.id LIMIT $1 OFFSET $2"), size, offset);
      for (int i = 0; i < r.rows(); ++i) page.items.push_back(read_product(r, i));
    } else {
      page.total = db.query(
                         "SELECT COUNT(*) FROM products p WHERE p.search @@ to_tsquery('simple', $1) "
                         "AND ($2::bigint IS NULL OR p.category_id = $2)",
                         match, category)
                       .int64(0, 0);
      // Products with every word whole come first (as FTS5's bm25 ranks them), then by tsvector rank.
      auto r = db.query(
          select_products("WHERE p.search @@ to_tsquery('simple', $1) "
                          "AND ($2::bigint IS NULL OR p.category_id = $2) "
                          "ORDER BY p.search @@ to_tsquery('simple', $3) DESC, "
                          "ts_rank(p.search, to_tsquery('simple', $1)) DESC, p.id LIMIT $4 OFFSET $5"),
          match, category, exact, size, offset);
      for (int i = 0; i < r.rows(); ++i) page.items.push_back(read_product(r, i));
    }
    tx.commit();
  });
  return page;
}

std::vector<int64_t> postgres_store::product_ids() {
  std::vector<int64_t> ids;
  run("product_ids", mode::read, [&](pg::connection& db, transaction&) {
    auto r = db.query("SELECT id FROM products ORDER BY id");
    ids.clear();
    for (int i = 0; i < r.rows(); ++i) ids.push_back(r.int64(i, 0));
  });
  return ids;
}

std::vector<bestseller> postgres_store::bestsellers(int64_t recent_orders, int64_t limit) {
  std::vector<bestseller> out;
  run("bestsellers", mode::read, [&](pg::connection& db, transaction&) {
    auto r = db.query(
        "SELECT ol.product_id, p.title, SUM(ol.qty) AS units FROM order_lines ol "
        "JOIN orders o ON o.id = ol.order_id JOIN products p ON p.id = ol.product_id "
        "WHERE ol.order_id > (SELECT COALESCE(MAX(id), 0) - $1 FROM orders) AND o.status <> 'failed' "
        "GROUP BY ol.product_id, p.title ORDER BY units DESC, ol.product_id LIMIT $2",
        recent_orders, limit);
    out.clear();
    for (int i = 0; i < r.rows(); ++i) out.push_back(bestseller{r.int64(i, 0), r.text(i, 1), r.int64(i, 2)});
  });
  return out;
}

std::optional<int64_t> postgres_store::create_user(std::string_view email, std::string_view name,
                                                   std::string_view password_hash) {
  std::optional<int64_t> id;
  run("create_user", mode::write, [&](pg::connection& db, transaction& tx) {
    // Safe to run again: the salted hash is unique to this call, so a second run recognises its own row.
    tx.rerun_after_unknown_commit();
    auto r = db.query(
        "INSERT INTO users(email, name, password_hash, created_at) VALUES ($1, $2, $3, "
        "(EXTRACT(EPOCH FROM now())::bigint) * 1000) ON CONFLICT (email) DO NOTHING RETURNING id",
        email, name, password_hash);
    id = r.rows() > 0 ? std::optional{r.int64(0, 0)} : std::nullopt;
    if (!id && tx.after_unknown_commit()) {
      auto mine =
          db.query("SELECT id FROM users WHERE email = $1 AND password_hash = $2", email, password_hash);
      if (mine.rows() > 0) id = mine.int64(0, 0);
    }
    tx.commit();
  });
  return id;
}

std::optional<user_credentials> postgres_store::find_user_by_email(std::string_view email) {
  std::optional<user_credentials> out;
  run("find_user_by_email", mode::read, [&](pg::connection& db, transaction&) {
    auto r = db.query("SELECT id, email, name, password_hash FROM users WHERE email = $1", email);
    out = r.rows() > 0
              ? std::optional{user_credentials{r.int64(0, 0), r.text(0, 1), r.text(0, 2), r.text(0, 3)}}
              : std::nullopt;
  });
  return out;
}

void postgres_store::create_session(std::string_view token, int64_t user_id, int64_t expires_at) {
  run("create_session", mode::write, [&](pg::connection& db, transaction& tx) {
    tx.rerun_after_unknown_commit();  // the token is random: a second run finds its own row
    db.query(
        "INSERT INTO sessions(token, user_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (token) DO NOTHING",
        token, user_id, expires_at);
    tx.commit();
  });
}

bool postgres_store::delete_session(std::string_view token) {
  bool deleted = false;
  // Not run again after an unknown commit: the second run would answer "no such session".
  run("delete_session", mode::write, [&](pg::connection& db, transaction& tx) {
    deleted = db.query("DELETE FROM sessions WHERE token = $1", token).affected() > 0;
    tx.commit();
  });
  return deleted;
}

std::optional<int64_t> postgres_store::session_user(std::string_view token, int64_t now) {
  std::optional<int64_t> out;
  run("session_user", mode::read, [&](pg::connection& db, transaction&) {
    auto r = db.query("SELECT user_id FROM sessions WHERE token = $1 AND expires_at > $2", token, now);
    out = r.rows() > 0 ? std::optional{r.int64(0, 0)} : std::nullopt;
  });
  return out;
}

std::vector<cart_line> postgres_store::cart(int64_t user_id) {
  std::vector<cart_line> out;
  run("cart", mode::read, [&](pg::connection& db, transaction&) {
    auto r = db.query(
        "SELECT ci.product_id, p.title, ci.qty, p.price FROM cart_items ci JOIN products p ON p.id = "
        "ci.product_id "
        "WHERE ci.user_id = $1 ORDER BY ci.product_id",
        user_id);
    out.clear();
    for (int i = 0; i < r.rows(); ++i)
      out.push_back(cart_line{r.int64(i, 0), r.text(i, 1), r.int64(i, 2), r.int64(i, 3)});
  });
  return out;
}

cart_status postgres_store::put_cart_item(int64_t user_id, int64_t product_id, int64_t qty, bool add) {
  cart_status status = cart_status::ok;
  run("put_cart_item", mode::write, [&](pg::connection& db, transaction& tx) {
    tx.rerun_after_unknown_commit(!add);  // setting a quantity twice is setting it once; adding is not
    // One statement: the line is written only if the product exists.
    auto r =
        db.query(add ? "INSERT INTO cart_items(user_id, product_id, qty) SELECT $1, id, $3 FROM products "
                       "WHERE id = $2 ON CONFLICT (user_id, product_id) DO UPDATE SET qty = "
                       "LEAST(cart_items.qty + excluded.qty, 1000)"
                     : "INSERT INTO cart_items(user_id, product_id, qty) SELECT $1, id, $3 FROM products "
                       "WHERE id = $2 ON CONFLICT (user_id, product_id) DO UPDATE SET qty = excluded.qty",
                 user_id, product_id, qty);
    status = r.affected() > 0 ? cart_status::ok : cart_status::unknown_product;
    tx.commit();
  });
  return status;
}

cart_status postgres_store::remove_cart_item(int64_t user_id, int64_t product_id) {
  cart_status status = cart_status::ok;
  // Not run again after an unknown commit: the second run would answer "not in the cart".
  run("remove_cart_item", mode::write, [&](pg::connection& db, transaction& tx) {
    auto r = db.query("DELETE FROM cart_items WHERE user_id = $1 AND product_id = $2", user_id, product_id);
    status = r.affected() > 0 ? cart_status::ok : cart_status::not_in_cart;
    tx.commit();
  });
  return status;
}

}  // namespace stampede::shop
