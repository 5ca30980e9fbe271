// Minimal command-line parsing shared by the shop's subcommands: "--name value" and "--name=value".
#pragma once

#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace stampede::shop {

class arg_list {
 public:
  // `flags` take no value; everything else in `known` takes one. Throws std::invalid_argument on unknown
  // or incomplete options.
  arg_list(std::span<char* const> args, std::set<std::string, std::less<>> known, std::set<std::string, std::less<>> flags = {}) {
    for (size_t i = 0; i < args.size(); ++i) {
      std::string_view a = args[i];
      if (a.substr(0, 2) != "--") {
        positional_.emplace_back(a);
        continue;
      }
      a.remove_prefix(2);
      std::string name{a.substr(0, a.find('='))};
      if (flags.count(name) != 0) {
        values_[name] = "1";
        continue;
      }
      if (known.count(name) == 0) throw std::invalid_argument("unknown option --" + name);
      if (a.find('=') != std::string_view::npos) {
        values_[name] = std::string{a.substr(a.find('=') + 1)};
      } else if (i + 1 < args.size()) {
        values_[name] = args[++i];
      } else {
        throw std::invalid_argument("option --" + name + " needs a value");
      }
    }
  }
  bool has(std::string_view name) const { return values_.find(name) != values_.end(); }
  std::string get(std::string_view name, std::string fallback = {}) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  int64_t get_int(std::string_view name, int64_t fallback, int64_t min, int64_t max) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    int64_t v = 0;
    const auto& s = it->second;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || v < min || v > max) {
      throw std::invalid_argument("--" + std::string{name} + " must be an integer in [" + std::to_string(min) + ", " +
                                  std::to_string(max) + "]");
    }
    return v;
  }
  double get_double(std::string_view name, double fallback, double min, double max) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    double v = 0;
    const auto& s = it->second;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || !(v >= min && v <= max)) {
      throw std::invalid_argument("--" + std::string{name} + " must be a number in [" + std::to_string(min) + ", " +
                                  std::to_string(max) + "]");
    }
    return v;
  }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string, std::less<>> values_;
  std::vector<std::string> positional_;
};

}  // namespace stampede::shop
