// Deterministic TPC-W-like data set for `stampede shop seed --scale S` and POST /api/admin/reset:
// items = 1,000 x S in the 24 TPC-W subjects, customers = 1,000 x S (customer<N>@shop.test, all with the
// seed password), 900 x S archived orders of 1-5 lines skewed towards popular items (for best sellers), and
// one flash sale of 1,000 units. The same scale always gives the same rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace stampede::shop {

inline constexpr const char* seed_password = "stampede";

struct seed_plan {
  int64_t scale = 1;
  int64_t items = 0;
  int64_t customers = 0;
  int64_t orders = 0;
  std::vector<std::string> categories;
};

// Throws std::invalid_argument unless 1 <= scale <= 1000.
seed_plan make_seed_plan(int64_t scale);

struct seed_item {
  int64_t category_id = 0;
  std::string title;
  std::string author;
  std::string description;
  int64_t price = 0;
  int64_t stock = 0;
  std::string pub_date;
};

struct seed_order_line {
  int64_t product_id = 0;
  int64_t qty = 0;
};

struct seed_order {
  int64_t user_id = 0;
  int64_t created_at = 0;
  std::vector<seed_order_line> lines;
};

std::string seed_customer_email(int64_t id);

// Pure functions of (plan, id): rows do not depend on generation order.
class seed_generator {
 public:
  explicit seed_generator(const seed_plan& plan) : plan_(plan) {}
  seed_item item(int64_t id) const;
  std::string customer_name(int64_t id) const;
  seed_order order(int64_t id) const;

 private:
  const seed_plan& plan_;
};

}  // namespace stampede::shop
