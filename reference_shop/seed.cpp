#include "reference_shop/seed.h"

#include <array>
#include <cstdio>
#include <stdexcept>

namespace stampede::shop {

namespace {

// splitmix64: tiny, fast and good enough for reproducible test data.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct rng {
  uint64_t state;
  uint64_t next() { return state = mix(state); }
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
};

constexpr std::array<const char*, 24> subjects = {
    "ARTS",     "BIOGRAPHIES", "BUSINESS",  "CHILDREN",       "COMPUTERS",       "COOKING",
    "HEALTH",   "HISTORY",     "HOME",      "HUMOR",          "LITERATURE",      "MYSTERY",
    "NON-FICTION", "PARENTING", "POLITICS", "REFERENCE",      "RELIGION",        "ROMANCE",
    "SELF-HELP", "SCIENCE-NATURE", "SCIENCE-FICTION", "SPORTS", "YOUTH",         "TRAVEL"};
constexpr std::array<const char*, 20> adjectives = {
    "Silent", "Crimson", "Hidden", "Quantum", "Golden", "Broken", "Electric", "Ancient", "Restless", "Bright",
    "Frozen", "Wandering", "Secret", "Distant", "Gentle", "Iron", "Velvet", "Burning", "Hollow", "Lucky"};
constexpr std::array<const char*, 20> nouns = {
    "Garden", "Engine", "River", "Kingdom", "Algorithm", "Harbor", "Empire", "Recipe", "Compass", "Lantern",
    "Mountain", "Orchard", "Signal", "Voyage", "Library", "Machine", "Island", "Market", "Storm", "Bridge"};
constexpr std::array<const char*, 16> first_names = {"Ada",  "Alan", "Grace", "Edsger", "Barbara", "Donald",
                                                     "Ken",  "Leslie", "Niklaus", "Frances", "John", "Radia",
                                                     "Tony", "Shafi", "Butler", "Margaret"};
constexpr std::array<const char*, 16> last_names = {"Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth",
                                                    "Thompson", "Lamport", "Wirth", "Allen", "McCarthy",
                                                    "Perlman", "Hoare", "Goldwasser", "Lampson", "Hamilton"};
constexpr std::array<const char*, 12> blurbs = {
    "a story about patience", "field notes and diagrams", "for curious readers", "with a new foreword",
    "illustrated edition", "the definitive guide", "short essays", "a collection of letters",
    "told in three parts", "revised and expanded", "with exercises", "a classic of its kind"};

}  // namespace

seed_plan make_seed_plan(int64_t scale) {
  if (scale < 1 || scale > 1000) throw std::invalid_argument("scale must be between 1 and 1000");
  seed_plan plan;
  plan.scale = scale;
  plan.items = 1000 * scale;
  plan.customers = 1000 * scale;
  plan.orders = 900 * scale;
  plan.categories.assign(subjects.begin(), subjects.end());
  return plan;
}

std::string seed_customer_email(int64_t id) { return "customer" + std::to_string(id) + "@shop.test"; }

seed_item seed_generator::item(int64_t id) const {
  rng r{static_cast<uint64_t>(id) * 7919 + 1};
  seed_item item;
  item.category_id = 1 + r.below(static_cast<int64_t>(plan_.categories.size()));
  item.title = std::string{"The "} + adjectives[r.below(adjectives.size())] + " " + nouns[r.below(nouns.size())] +
               " " + std::to_string(id);
  item.author = std::string{first_names[r.below(first_names.size())]} + " " + last_names[r.below(last_names.size())];
  item.description = std::string{blurbs[r.below(blurbs.size())]} + ", " + blurbs[r.below(blurbs.size())] +
                     ", on " + plan_.categories[item.category_id - 1];
  item.price = 199 + r.below(9800);   // $1.99 .. $99.98
  item.stock = 500 + r.below(1500);   // deep enough for long checkout runs
  char date[16];
  std::snprintf(date, sizeof date, "%04d-%02d-%02d", static_cast<int>(1990 + r.below(35)),
                static_cast<int>(1 + r.below(12)), static_cast<int>(1 + r.below(28)));
  item.pub_date = date;
  return item;
}

std::string seed_generator::customer_name(int64_t id) const {
  rng r{static_cast<uint64_t>(id) * 104729 + 3};
  return std::string{first_names[r.below(first_names.size())]} + " " + last_names[r.below(last_names.size())];
}

seed_order seed_generator::order(int64_t id) const {
  rng r{static_cast<uint64_t>(id) * 15485863 + 7};
  seed_order o;
  o.user_id = 1 + r.below(plan_.customers);
  o.created_at = 1'600'000'000'000LL + id * 60'000;
  const int64_t lines = 1 + r.below(5);
  for (int64_t i = 0; i < lines; ++i) {
    // Squared uniform: low ids are much more popular, so best sellers are stable and meaningful.
    const double u = static_cast<double>(r.next() % 1'000'000) / 1'000'000.0;
    const int64_t product = 1 + static_cast<int64_t>(u * u * static_cast<double>(plan_.items));
    o.lines.push_back(seed_order_line{product, 1 + r.below(3)});
  }
  return o;
}

}  // namespace stampede::shop
