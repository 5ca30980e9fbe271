#include "loadgen/target_cache.h"

#include <charconv>
#include <utility>

namespace stampede::loadgen {

// "<method> <name length>:<name><url>": unambiguous whatever bytes the name holds.
const std::string& target_cache::key_of(std::string_view method, std::string_view url,
                                        std::string_view name) {
  key_.assign(method);
  key_ += ' ';
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, name.size());
  key_.append(digits, end);
  key_ += ':';
  key_.append(name);
  key_.append(url);
  return key_;
}

const target_cache::entry* target_cache::find(std::string_view method, std::string_view url,
                                              std::string_view name) {
  const auto it = entries_.find(key_of(method, url, name));
  return it == entries_.end() ? nullptr : &it->second;
}

const target_cache::entry* target_cache::insert(std::string_view method, std::string_view url,
                                                std::string_view name, parsed_url& parsed, size_t step) {
  if (entries_.size() >= max_entries) return nullptr;
  auto [it, added] = entries_.try_emplace(key_of(method, url, name));
  if (added) it->second = entry{std::move(parsed), step};
  return &it->second;
}

}  // namespace stampede::loadgen
