// Customer accounts of a shop node: registration (POST /api/users), login (POST /api/sessions) and logout
// (DELETE /api/sessions), with the protections a shop owes its customers:
//  - passwords hashed with argon2id (libsodium) at the node's --kdf cost;
//  - no account enumeration by timing: a login for an unknown email verifies the password against a dummy
//    hash made at start with the same cost, so it takes as long as a wrong password for a known email
//    (shop_login_dummy_verifications_total counts them);
//  - online guessing is slowed per account: failed logins take a token from a bucket per email (a success
//    gives it back); an empty bucket answers 429 + Retry-After without hashing;
//  - emails are normalised (ASCII lower case) and refused with control characters, white space or C1
//    controls, so "a@b.c\u0000" cannot become a second account beside "a@b.c";
//  - logout revokes the session at once (it is deleted, not left to expire).
// Bad input throws `bad_input` (request_fields.h). Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/http_server.h"
#include "common/prometheus_text.h"
#include "reference_shop/passwords.h"
#include "reference_shop/rate_limiter.h"
#include "reference_shop/store.h"

namespace stampede::shop {

struct account_options {
  kdf_cost kdf = kdf_cost::interactive;
  std::chrono::milliseconds session_ttl{24 * 3600 * 1000};
  bucket_spec failures_per_account{0.2, 20};  // failed logins per email: 20, then one per 5 s; rate 0 = off
};

class accounts {
 public:
  // Makes the dummy hash (one hash at the configured cost). Throws std::runtime_error if it cannot.
  accounts(store& db, account_options options);

  http::response register_user(const http::request& request);
  http::response login(const http::request& request, int64_t now_ms);
  http::response logout(const http::request& request);

  // How long the start-up (dummy) hash took: a first estimate of one hash's cost on this machine.
  std::chrono::milliseconds hash_duration() const noexcept { return hash_duration_; }

  // Appends the account counters in the Prometheus text format.
  void render_metrics(prometheus::text_writer& out) const;

  // Lower-cased email, or nullopt when it is not one (no '@' with text on both sides, 3 to 254 bytes,
  // control characters, white space).
  static std::optional<std::string> normalise_email(std::string_view email);

 private:
  store& db_;
  account_options options_;
  std::chrono::milliseconds hash_duration_{0};
  std::string dummy_hash_;
  rate_limiter failures_;
  std::atomic<uint64_t> registrations_{0}, logins_ok_{0}, logins_failed_{0}, account_limited_{0};
  std::atomic<uint64_t> dummy_verifications_{0}, logouts_{0};
};

}  // namespace stampede::shop
