// Request targets a worker's VUs have already used: (method, URL text, params.name) -> the parsed URL and
// the metric step. A journey's VUs cycle through a few targets (GET /, GET /product, POST /cart), so the
// VU's own one-entry cache (vu.h: request_cache) misses at every step; this one, shared by the worker's
// VUs, saves the URL parse, the step name and the step lookup there too. Bounded: past max_entries new
// targets are not kept (a script with a distinct URL per request parses each, as without the cache).
//
// Thread-safety: none; one per worker, used from its thread. Entries never move or go away (VUs point
// at them) until the cache is destroyed with the worker.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

#include "loadgen/url.h"

namespace stampede::loadgen {

class target_cache {
 public:
  struct entry {
    parsed_url url;
    size_t step = 0;
  };
  static constexpr size_t max_entries = 4096;

  // nullptr when the target was not kept.
  const entry* find(std::string_view method, std::string_view url, std::string_view name);
  // Keeps the target; nullptr (and `url` untouched) when the cache is full.
  const entry* insert(std::string_view method, std::string_view url, std::string_view name,
                      parsed_url& parsed, size_t step);
  size_t size() const noexcept { return entries_.size(); }

 private:
  const std::string& key_of(std::string_view method, std::string_view url, std::string_view name);

  std::string key_;  // reused: a lookup allocates nothing
  std::unordered_map<std::string, entry> entries_;
};

}  // namespace stampede::loadgen
