// Deterministic randomness for fault decisions. Every decision is a pure function of
// (seed, proxy, connection id, toxic, toxic version, request index), so a run replays the same
// decisions whatever the thread timing; sequential draws (jitter, slice sizes, chunk loss) come
// from a per-connection, per-direction generator seeded the same way.
// Thread-safety: the functions are pure; an `rng` object belongs to one strand.
#pragma once

#include <cstdint>
#include <string_view>

namespace stampede::chaos {

constexpr uint64_t mix64(uint64_t x) noexcept {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

constexpr uint64_t hash_text(std::string_view text) noexcept {  // FNV-1a, then mixed
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return mix64(h);
}

constexpr uint64_t derive(uint64_t seed, uint64_t a) noexcept { return mix64(seed ^ mix64(a)); }
constexpr uint64_t derive(uint64_t seed, uint64_t a, uint64_t b) noexcept { return derive(derive(seed, a), b); }

// Uniform double in [0, 1) from 53 high bits.
constexpr double to_unit(uint64_t x) noexcept { return static_cast<double>(x >> 11) * 0x1.0p-53; }

// True with probability p (0 never, 1 always: toxicity 0 must not affect anything).
constexpr bool roll(uint64_t x, double p) noexcept { return p >= 1.0 || (p > 0.0 && to_unit(x) < p); }

class rng {
 public:
  explicit constexpr rng(uint64_t seed = 0) noexcept : state_(seed) {}
  constexpr uint64_t next() noexcept { return mix64(state_ += 0x9e3779b97f4a7c15ULL); }
  constexpr double unit() noexcept { return to_unit(next()); }
  // Uniform integer in [lo, hi].
  constexpr int64_t between(int64_t lo, int64_t hi) noexcept {
    if (hi <= lo) return lo;
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }

 private:
  uint64_t state_;
};

}  // namespace stampede::chaos
