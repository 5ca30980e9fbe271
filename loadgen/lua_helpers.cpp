// The small helpers k6 scripts lean on (docs/SCENARIOS.md, "Helpers"): crypto.* (hashes, HMAC, random
// bytes) and uuid.v4() on OpenSSL, encoding.* (base64 through OpenSSL's codec, URL encoding through
// Boost.URL). No cryptography is written here. Registered as __name functions; the prelude
// (lua_runtime.cpp) builds the public tables.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <boost/url/pct_string_view.hpp>
#include <string>

#include "loadgen/lua_bindings.h"

namespace stampede::loadgen {

namespace {

constexpr size_t max_random_bytes = 1024 * 1024;

const EVP_MD* digest_named(std::string_view name) {
  if (name == "md5") return EVP_md5();
  if (name == "sha1") return EVP_sha1();
  if (name == "sha256") return EVP_sha256();
  if (name == "sha384") return EVP_sha384();
  if (name == "sha512") return EVP_sha512();
  throw lua_usage_error("crypto: unknown algorithm '" + std::string(name) +
                        "' (known: md5, sha1, sha256, sha384, sha512)");
}

std::string hex_of(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// k6's base64 variants: "std" (padded), "rawstd" (no padding), "url" (-_ padded), "rawurl" (-_ no padding).
struct b64_variant {
  bool url = false;
  bool padded = true;
};

b64_variant variant_named(lua_State* L, int index) {
  const std::string_view name = lua_isnoneornil(L, index) ? std::string_view("std") : to_view(L, index);
  if (name == "std") return {false, true};
  if (name == "rawstd") return {false, false};
  if (name == "url") return {true, true};
  if (name == "rawurl") return {true, false};
  throw lua_usage_error("encoding: unknown base64 variant '" + std::string(name) +
                        "' (known: std, rawstd, url, rawurl)");
}

std::string b64_encode(std::string_view bytes, b64_variant v) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  if (v.url) {
    for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  if (!v.padded) {
    while (!out.empty() && out.back() == '=') out.pop_back();
  }
  return out;
}

// Decodes any of the four variants' text (padding optional); nullopt for a character outside the alphabet
// or a bad length.
std::optional<std::string> b64_decode(std::string_view text, b64_variant v) {
  std::string in(text);
  for (char& c : in) {
    if (v.url && (c == '+' || c == '/')) return std::nullopt;
    if (v.url) c = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  size_t padding = 0;
  while (padding < in.size() && in[in.size() - 1 - padding] == '=') ++padding;
  if (padding > 2 || in.size() % 4 == 1) return std::nullopt;
  if (padding == 0) {
    while (in.size() % 4 != 0) {
      in += '=';
      ++padding;
    }
  } else if (in.size() % 4 != 0) {
    return std::nullopt;
  }
  std::string out(in.size() / 4 * 3, '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n) - padding);  // EVP_DecodeBlock counts the padding as zero bytes
  return out;
}

// [+1] `bytes` in the output encoding at `index`: "hex" (default), "base64" or "binary".
void push_digest(lua_State* L, std::string_view bytes, int index) {
  const std::string_view encoding = lua_isnoneornil(L, index) ? std::string_view("hex") : to_view(L, index);
  std::string out;
  if (encoding == "hex") {
    out = hex_of(bytes);
  } else if (encoding == "base64") {
    out = b64_encode(bytes, {});
  } else if (encoding == "binary") {
    out = bytes;
  } else {
    throw lua_usage_error("crypto: unknown output encoding '" + std::string(encoding) +
                          "' (known: hex, base64, binary)");
  }
  lua_pushlstring(L, out.data(), out.size());
}

// __hash(algorithm, data[, encoding])
int lua_hash(lua_State* L) {
  const std::string_view algorithm = luaL_checkstring(L, 1);
  size_t size = 0;
  const char* data = luaL_checklstring(L, 2, &size);
  return lua_guarded(L, [&] {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int length = 0;
    if (EVP_Digest(data, size, md.data(), &length, digest_named(algorithm), nullptr) != 1) {
      throw lua_usage_error("crypto: the digest failed");
    }
    push_digest(L, std::string_view(reinterpret_cast<const char*>(md.data()), length), 3);
    return 1;
  });
}

// __hmac(algorithm, key, data[, encoding])
int lua_hmac(lua_State* L) {
  const std::string_view algorithm = luaL_checkstring(L, 1);
  size_t key_size = 0, data_size = 0;
  const char* key = luaL_checklstring(L, 2, &key_size);
  const char* data = luaL_checklstring(L, 3, &data_size);
  return lua_guarded(L, [&] {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int length = 0;
    if (HMAC(digest_named(algorithm), key, static_cast<int>(key_size),
             reinterpret_cast<const unsigned char*>(data), data_size, md.data(), &length) == nullptr) {
      throw lua_usage_error("crypto.hmac: the HMAC failed");
    }
    push_digest(L, std::string_view(reinterpret_cast<const char*>(md.data()), length), 4);
    return 1;
  });
}

// __random_bytes(n): n bytes from OpenSSL's CSPRNG (not reproducible from --seed, on purpose: tokens and
// nonces must not repeat from run to run).
int lua_random_bytes(lua_State* L) {
  const lua_Integer n = luaL_checkinteger(L, 1);
  return lua_guarded(L, [&] {
    if (n < 0 || static_cast<size_t>(n) > max_random_bytes) {
      throw lua_usage_error("crypto.random_bytes: n must be in 0..1048576");
    }
    std::string out(static_cast<size_t>(n), '\0');
    if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
      throw lua_usage_error("crypto.random_bytes: no randomness available");
    }
    lua_pushlstring(L, out.data(), out.size());
    return 1;
  });
}

// __uuid4(): a random (version 4, RFC 9562) UUID, lower-case text.
int lua_uuid4(lua_State* L) {
  return lua_guarded(L, [&] {
    std::array<unsigned char, 16> b{};
    if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1)
      throw lua_usage_error("uuid.v4: no randomness available");
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // variant 10
    const std::string hex = hex_of(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
    const std::string text = hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
                             hex.substr(16, 4) + "-" + hex.substr(20);
    lua_pushlstring(L, text.data(), text.size());
    return 1;
  });
}

// __b64encode(s[, variant])
int lua_b64encode(lua_State* L) {
  size_t size = 0;
  const char* data = luaL_checklstring(L, 1, &size);
  return lua_guarded(L, [&] {
    const std::string out = b64_encode(std::string_view(data, size), variant_named(L, 2));
    lua_pushlstring(L, out.data(), out.size());
    return 1;
  });
}

// __b64decode(s[, variant]): the bytes, or nil and a message for text that is not base64.
int lua_b64decode(lua_State* L) {
  size_t size = 0;
  const char* data = luaL_checklstring(L, 1, &size);
  return lua_guarded(L, [&] {
    const auto out = b64_decode(std::string_view(data, size), variant_named(L, 2));
    if (!out) {
      lua_pushnil(L);
      lua_pushliteral(L, "encoding.b64decode: not base64 of that variant");
      return 2;
    }
    lua_pushlstring(L, out->data(), out->size());
    return 1;
  });
}

// __url_decode(s): percent-decoding (RFC 3986; "+" stays "+"), or nil and a message for a bad escape.
int lua_url_decode(lua_State* L) {
  size_t size = 0;
  const char* data = luaL_checklstring(L, 1, &size);
  return lua_guarded(L, [&] {
    const auto view = boost::urls::make_pct_string_view(boost::core::string_view(data, size));
    if (!view) {
      lua_pushnil(L);
      lua_pushliteral(L, "encoding.url_decode: a '%' not followed by two hex digits");
      return 2;
    }
    const auto decoded = view->decode();
    const std::string out(decoded.begin(), decoded.end());
    lua_pushlstring(L, out.data(), out.size());
    return 1;
  });
}

}  // namespace

std::string multipart_boundary() {
  std::array<unsigned char, 12> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1)
    throw lua_usage_error("http: no randomness available");
  return "----stampede" + hex_of(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

void add_helper_functions(lua_State* L, worker& owner) {
  const luaL_Reg functions[] = {{"__hash", lua_hash},
                                {"__hmac", lua_hmac},
                                {"__random_bytes", lua_random_bytes},
                                {"__uuid4", lua_uuid4},
                                {"__b64encode", lua_b64encode},
                                {"__b64decode", lua_b64decode},
                                {"__url_decode", lua_url_decode},
                                {nullptr, nullptr}};
  lua_pushlightuserdata(L, &owner);
  luaL_setfuncs(L, functions, 1);
}

}  // namespace stampede::loadgen
