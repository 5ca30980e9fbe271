// The shop API's catalogue: categories, products (one, or a page of a category or a search),
// bestsellers. Read-mostly: answers come from the response cache, filled single-flight.
#include <boost/json.hpp>

#include "reference_shop/node.h"
#include "reference_shop/request_fields.h"

namespace stampede::shop {

namespace json = boost::json;

namespace {

json::object product_json(const product& p) {
  return json::object{{"id", p.id},
                      {"category_id", p.category_id},
                      {"category", p.category},
                      {"title", p.title},
                      {"author", p.author},
                      {"description", p.description},
                      {"price", p.price},
                      {"stock", p.stock_known ? json::value(p.stock) : json::value(nullptr)},
                      {"pub_date", p.pub_date}};
}

// A page with a product's stock unknown (its shard is away): answered, never cached (the next request
// after the shard is back sees the stock again).
struct degraded_page {
  std::string body;
};

// The cached body for `key`, or a degraded page the loader threw instead.
template <class Cached>
std::optional<read_cache::value> cached_or_degraded(Cached&& cached, std::string& degraded) {
  try {
    return cached();
  } catch (const degraded_page& d) {
    degraded = d.body;
    return std::nullopt;
  }
}

http::response degraded_response(std::string body) {
  auto r = http::response::json(200, std::move(body));
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace

http::response node::categories(api_call&) {
  auto body = cached("categories", [&]() -> std::optional<std::string> {
    json::array out;
    for (const auto& c : store_->categories()) {
      out.push_back(json::object{{"id", c.id}, {"name", c.name}, {"product_count", c.product_count}});
    }
    return json::serialize(json::object{{"categories", std::move(out)}});
  });
  return http::response::json(200, *body);
}

http::response node::product(api_call& call) {
  const std::string_view id_text = call.params["id"];
  const int64_t id = require_id(id_text, "product id");
  std::shared_ptr<const bloom_filter> filter;
  {
    std::lock_guard lock{bloom_mutex_};
    filter = bloom_;
  }
  if (filter && !filter->may_contain(id)) {
    ++bloom_rejections_;  // penetration guard: neither cache nor database is asked
    reject(404, "not_found", "no product " + std::to_string(id));
  }
  // Keyed by the parsed id: "/api/products/042" and "/42" share one entry, which invalidation finds.
  std::string degraded;
  auto body = cached_or_degraded(
      [&] {
        return cached("p:" + std::to_string(id), [&]() -> std::optional<std::string> {
          auto p = store_->find_product(id);
          if (!p) return std::nullopt;
          if (!p->stock_known) throw degraded_page{json::serialize(product_json(*p))};
          return json::serialize(product_json(*p));
        });
      },
      degraded);
  if (!body) return degraded_response(std::move(degraded));
  if (!*body) reject(404, "not_found", "no product " + std::to_string(id));
  return http::response::json(200, **body);
}

http::response node::products(api_call& call) {
  const http::request& request = call.request;
  product_query q;
  const std::string category = request.query_param("category");
  if (!category.empty()) q.category_id = require_id(category, "category");
  q.q = request.query_param("q");
  if (q.q.size() > 200) reject(400, "bad_request", "q is limited to 200 characters");
  const std::string page = request.query_param("page"), size = request.query_param("size");
  if (!page.empty()) q.page = require_id(page, "page");
  if (!size.empty()) q.size = require_id(size, "size");
  if (q.page > 100'000) reject(400, "bad_request", "page must be at most 100000");
  if (q.size > 100) reject(400, "bad_request", "size must be at most 100");
  const std::string key =
      "list:" + category + ":" + std::to_string(q.page) + ":" + std::to_string(q.size) + ":" + q.q;
  std::string degraded;
  auto body = cached_or_degraded(
      [&] {
        return cached(key, [&]() -> std::optional<std::string> {
          auto result = store_->list_products(q);
          json::array items;
          bool complete = true;
          for (const auto& p : result.items) {
            items.push_back(product_json(p));
            complete = complete && p.stock_known;
          }
          auto page = json::serialize(json::object{
              {"items", std::move(items)}, {"total", result.total}, {"page", q.page}, {"size", q.size}});
          if (!complete) throw degraded_page{std::move(page)};
          return page;
        });
      },
      degraded);
  if (!body) return degraded_response(std::move(degraded));
  return http::response::json(200, **body);
}

http::response node::bestsellers(api_call&) {
  // Expensive aggregate: cached, and single-flight keeps a cold cache from running it N times at once.
  auto body = cached("bestsellers", [&]() -> std::optional<std::string> {
    json::array items;
    for (const auto& b : store_->bestsellers(3333, 50)) {
      items.push_back(json::object{{"product_id", b.product_id}, {"title", b.title}, {"units", b.units}});
    }
    return json::serialize(json::object{{"items", std::move(items)}, {"recent_orders", 3333}});
  });
  return http::response::json(200, *body);
}

}  // namespace stampede::shop
