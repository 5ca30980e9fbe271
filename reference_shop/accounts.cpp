#include "reference_shop/accounts.h"

#include <algorithm>
#include <boost/json.hpp>

#include "reference_shop/request_fields.h"

namespace stampede::shop {

namespace json = boost::json;

namespace {

std::string email_field(const json::object& body) {
  auto email = accounts::normalise_email(string_field(body, "email", 1, 254));
  if (!email) reject(400, "bad_request", "email is not an email address");
  return *email;
}

}  // namespace

accounts::accounts(store& db, account_options options)
    : db_(db), options_(options), failures_(options.failures_per_account, bucket_spec{}) {
  const auto start = std::chrono::steady_clock::now();
  dummy_hash_ = hash_password(random_token(), options.kdf);
  hash_duration_ = std::max(
      std::chrono::milliseconds{1},
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start));
}

std::optional<std::string> accounts::normalise_email(std::string_view email) {
  if (email.size() < 3 || email.size() > 254) return std::nullopt;
  std::string out;
  out.reserve(email.size());
  for (size_t i = 0; i < email.size(); ++i) {
    const auto c = static_cast<unsigned char>(email[i]);
    if (c <= 0x20 || c == 0x7f) return std::nullopt;  // C0 controls (NUL included), space, DEL
    // C1 controls U+0080..U+009F, UTF-8 encoded as C2 80..C2 9F.
    if (c == 0xc2 && i + 1 < email.size() && static_cast<unsigned char>(email[i + 1]) <= 0x9f)
      return std::nullopt;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : static_cast<char>(c));
  }
  const size_t at = out.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= out.size()) return std::nullopt;
  return out;
}

http::response accounts::register_user(const http::request& request) {
  auto body = parse_body(request);
  const std::string email = email_field(body);
  const std::string password = string_field(body, "password", 8, 256);
  const std::string name = string_field(body, "name", 1, 200);
  auto id = db_.create_user(email, name, hash_password(password, options_.kdf));
  if (!id) reject(409, "email_taken", "an account with this email exists");
  ++registrations_;
  return json_response(201, json::object{{"user_id", *id}, {"email", email}, {"name", name}});
}

http::response accounts::login(const http::request& request, int64_t now_ms) {
  auto body = parse_body(request);
  const std::string email = email_field(body);
  const std::string password = string_field(body, "password", 1, 256);
  if (failures_.enabled()) {
    // One token per attempt, given back on success: only failures drain an account's bucket.
    auto decision = failures_.try_acquire(email, monotonic_seconds());
    if (!decision.allowed) {
      ++account_limited_;
      auto r = http::response::error(429, "too_many_failures",
                                     "too many failed logins for this account, retry later");
      r.headers.emplace_back("Retry-After", std::to_string(decision.retry_after_seconds));
      return r;
    }
  }
  auto user = db_.find_user_by_email(email);
  bool ok = false;
  if (user) {
    ok = verify_password(user->password_hash, password);
  } else {
    // Same work as a wrong password for a known email: the answer's timing says nothing about the account.
    (void)verify_password(dummy_hash_, password);
    ++dummy_verifications_;
  }
  if (!ok) {
    ++logins_failed_;
    reject(401, "invalid_credentials", "wrong email or password");
  }
  if (failures_.enabled()) failures_.refund(email);
  ++logins_ok_;
  const std::string token = random_token();
  const int64_t expires = now_ms + options_.session_ttl.count();
  db_.create_session(token, user->id, expires);
  auto r = json_response(200, json::object{{"token", token}, {"user_id", user->id}, {"expires_at", expires}});
  r.headers.emplace_back("Set-Cookie", "sid=" + token + "; Path=/; HttpOnly; SameSite=Lax; Max-Age=" +
                                           std::to_string(options_.session_ttl.count() / 1000));
  return r;
}

http::response accounts::logout(const http::request& request) {
  const std::string token = session_token(request);
  if (token.empty()) reject(401, "unauthorized", "a session is required (sid cookie or Bearer token)");
  if (!valid_token(token) || !db_.delete_session(token)) reject(401, "unauthorized", "unknown session");
  ++logouts_;
  http::response r;
  r.status = 204;
  r.headers.emplace_back("Set-Cookie", "sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
  return r;
}

void accounts::render_metrics(prometheus::text_writer& out) const {
  using prometheus::metric_type;
  out.family("shop_registrations_total", metric_type::counter, "Accounts created.");
  out.sample("shop_registrations_total", {}, registrations_.load());
  out.family("shop_logins_total", metric_type::counter, "Login attempts by result.");
  out.sample("shop_logins_total", {{"result", "ok"}}, logins_ok_.load());
  out.sample("shop_logins_total", {{"result", "invalid"}}, logins_failed_.load());
  out.sample("shop_logins_total", {{"result", "account_limited"}}, account_limited_.load());
  out.family("shop_login_dummy_verifications_total", metric_type::counter,
             "Logins for unknown emails verified against the dummy hash (no timing oracle).");
  out.sample("shop_login_dummy_verifications_total", {}, dummy_verifications_.load());
  out.family("shop_logouts_total", metric_type::counter, "Sessions revoked by logout.");
  out.sample("shop_logouts_total", {}, logouts_.load());
}

}  // namespace stampede::shop
