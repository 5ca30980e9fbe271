#include "reference_shop/passwords.h"

#include <sodium.h>

#include <stdexcept>

namespace stampede::shop {

namespace {

void ensure_sodium() {
  static const int ready = sodium_init();
  if (ready < 0) throw std::runtime_error("libsodium failed to initialise");
}

}  // namespace

std::optional<kdf_cost> parse_kdf_cost(std::string_view text) {
  if (text == "interactive") return kdf_cost::interactive;
  if (text == "moderate") return kdf_cost::moderate;
  if (text == "minimal" || text == "min") return kdf_cost::minimal;
  return std::nullopt;
}

std::string hash_password(std::string_view password, kdf_cost cost) {
  ensure_sodium();
  unsigned long long ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
  size_t mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
  if (cost == kdf_cost::moderate) {
    ops = crypto_pwhash_OPSLIMIT_MODERATE;
    mem = crypto_pwhash_MEMLIMIT_MODERATE;
  } else if (cost == kdf_cost::minimal) {
    ops = crypto_pwhash_OPSLIMIT_MIN;
    mem = crypto_pwhash_MEMLIMIT_MIN;
  }
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("argon2id hashing failed (out of memory)");
  }
  return out;
}

bool verify_password(std::string_view hash, std::string_view password) {
  ensure_sodium();
  if (hash.size() >= crypto_pwhash_STRBYTES) return false;
  char buffer[crypto_pwhash_STRBYTES] = {};
  hash.copy(buffer, hash.size());
  return crypto_pwhash_str_verify(buffer, password.data(), password.size()) == 0;
}

std::string random_token() {
  ensure_sodium();
  unsigned char bytes[32];
  randombytes_buf(bytes, sizeof bytes);
  char hex[sizeof bytes * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, bytes, sizeof bytes);
  return hex;
}

}  // namespace stampede::shop
