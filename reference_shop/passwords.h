// Password hashing with argon2id (libsodium's crypto_pwhash_str), and random session tokens.
// Thread-safe (libsodium is initialised once).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace stampede::shop {

// interactive = libsodium's OPSLIMIT/MEMLIMIT_INTERACTIVE (64 MiB, the production default);
// minimal = the smallest argon2id parameters, for tests and load runs that log in thousands of users.
enum class kdf_cost { interactive, moderate, minimal };

std::optional<kdf_cost> parse_kdf_cost(std::string_view text);

// Throws std::runtime_error if libsodium cannot hash (out of memory).
std::string hash_password(std::string_view password, kdf_cost cost);
// Constant-time check against a string made by hash_password (the parameters are read from the hash).
bool verify_password(std::string_view hash, std::string_view password);
// 32 random bytes as 64 hex characters.
std::string random_token();

}  // namespace stampede::shop
