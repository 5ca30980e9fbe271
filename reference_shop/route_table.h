// Routes of an HTTP API as a table: (method, path pattern) -> handler. A pattern is a path whose segments
// are literals or "{name}" parameters ("/api/products/{id}"); it doubles as the route's low-cardinality
// label in metrics. Paths and patterns are matched as segments (split_path: "//api/x/" is "/api/x"); the
// first route whose pattern and method match wins, and method "*" takes any method. A path that some
// pattern matches, but not with this method, is "method not allowed" (with the methods that are).
// Thread-safety: immutable after construction; match() may be called from any thread.
#pragma once

#include <array>
#include <cassert>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reference_shop/request_fields.h"

namespace stampede::shop {

// The parameters a pattern took from a path: {"id"} of "/api/products/{id}" for "/api/products/7".
class path_params {
 public:
  static constexpr size_t max_params = 4;
  // The value of parameter `name`; the pattern must have it (asserted), else empty.
  std::string_view operator[](std::string_view name) const noexcept {
    for (size_t i = 0; i < size_; ++i) {
      if (params_[i].first == name) return params_[i].second;
    }
    assert(false && "the route's pattern has no such parameter");
    return {};
  }
  size_t size() const noexcept { return size_; }
  void add(std::string_view name, std::string_view value) noexcept {
    assert(size_ < max_params);
    if (size_ < max_params) params_[size_++] = {name, value};
  }

 private:
  std::array<std::pair<std::string_view, std::string_view>, max_params> params_{};
  size_t size_ = 0;
};

template <class Handler>
class route_table {
 public:
  struct route {
    std::string_view method;   // "GET", ... or "*" for any
    std::string_view pattern;  // "/api/products/{id}"
    Handler handler;
  };
  enum class match_kind { found, method_not_allowed, not_found };
  struct match_result {
    match_kind kind = match_kind::not_found;
    const route* matched = nullptr;  // found: the route; method_not_allowed: the first route of the path
    path_params params;              // found: the pattern's parameters
    std::string allowed;             // method_not_allowed: the methods that are, "GET, POST"
  };

  // `routes` are string literals (the table keeps views of them).
  explicit route_table(std::vector<route> routes) : routes_(std::move(routes)) {
    for (const auto& r : routes_) segments_.push_back(split_path(r.pattern));
  }

  match_result match(std::string_view method, std::span<const std::string_view> path) const {
    match_result result;
    for (size_t i = 0; i < routes_.size(); ++i) {
      path_params params;
      if (!matches(segments_[i], path, params)) continue;
      const route& r = routes_[i];
      if (r.method == "*" || r.method == method) {
        result.kind = match_kind::found;
        result.matched = &r;
        result.params = params;
        result.allowed.clear();
        return result;
      }
      if (result.matched == nullptr) result.matched = &r;
      result.kind = match_kind::method_not_allowed;
      if (!result.allowed.empty()) result.allowed += ", ";
      result.allowed += r.method;
    }
    return result;
  }

  std::span<const route> routes() const noexcept { return routes_; }

 private:
  static bool is_param(std::string_view segment) {
    return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
  }
  static bool matches(const std::vector<std::string_view>& pattern, std::span<const std::string_view> path,
                      path_params& params) {
    if (pattern.size() != path.size()) return false;
    for (size_t i = 0; i < pattern.size(); ++i) {
      if (is_param(pattern[i])) {
        params.add(pattern[i].substr(1, pattern[i].size() - 2), path[i]);
      } else if (pattern[i] != path[i]) {
        return false;
      }
    }
    return true;
  }

  std::vector<route> routes_;
  std::vector<std::vector<std::string_view>> segments_;
};

}  // namespace stampede::shop
