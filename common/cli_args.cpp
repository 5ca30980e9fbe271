#include "common/cli_args.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <limits>

#include "common/closest_name.h"

namespace stampede::cli {

namespace {

constexpr flag help_flag{"--help", "-h", {}, "this text"};

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

std::string number_text(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

std::string range_text(int64_t min, int64_t max) {
  if (max == std::numeric_limits<int64_t>::max()) return ">= " + std::to_string(min);
  return "in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
}

// The flag of the table that `word` names (a long name or an alias), or nullptr.
const flag* find_flag(const command& spec, std::string_view word) {
  if (word == help_flag.name || word == help_flag.alias) return &help_flag;
  for (const auto& f : spec.flags) {
    if (word == f.name || (!f.alias.empty() && word == f.alias)) return &f;
  }
  return nullptr;
}

std::string unknown_flag(const command& spec, std::string_view word) {
  std::vector<std::string_view> names{help_flag.name};
  for (const auto& f : spec.flags) names.push_back(f.name);
  if (word.size() == 2) {  // a short alias: compare with the aliases
    for (const auto& f : spec.flags) {
      if (!f.alias.empty()) names.push_back(f.alias);
    }
  }
  return "unknown flag " + quoted(word) + did_you_mean(word, names);
}

// "  -e, --env KEY=VAL" or "      --target URL".
std::string left_column(const flag& f) {
  std::string text = f.alias.empty() ? "      " : "  " + std::string(f.alias) + ", ";
  text += f.name;
  if (f.takes_value()) text += " " + std::string(f.value);
  return text;
}

void append_block(std::string& out, std::string_view text) {
  if (text.empty()) return;
  out += "\n";
  out += text;
  if (text.back() != '\n') out += "\n";
}

}  // namespace

flag env_flag() { return {"--env", "-e", "KEY=VAL", "value for env.KEY in the script (repeatable)", true}; }
flag threads_flag(std::string_view help) { return {"--threads", "-t", "N", help}; }
flag seed_flag(std::string_view help) { return {"--seed", {}, "N", help}; }
flag out_flag(std::string_view value, std::string_view help) { return {"--out", "-o", value, help}; }

std::string parsed_args::key(std::string_view name) {
  while (!name.empty() && name.front() == '-') name.remove_prefix(1);
  return std::string(name);
}

bool parsed_args::has(std::string_view name) const { return values_.contains(key(name)); }

std::optional<std::string> parsed_args::value(std::string_view name) const {
  const auto it = values_.find(key(name));
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string parsed_args::get(std::string_view name, std::string fallback) const {
  return value(name).value_or(std::move(fallback));
}

std::vector<std::string> parsed_args::values(std::string_view name) const {
  const auto it = values_.find(key(name));
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

int64_t parsed_args::get_int(std::string_view name, int64_t fallback, int64_t min, int64_t max) const {
  const auto v = value(name);
  return v ? to_int("--" + key(name), *v, min, max) : fallback;
}

double parsed_args::get_double(std::string_view name, double fallback, double min, double max) const {
  const auto v = value(name);
  return v ? to_double("--" + key(name), *v, min, max) : fallback;
}

int64_t to_int(std::string_view flag_name, std::string_view text, int64_t min, int64_t max) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < min || v > max) {
    throw usage_error(std::string(flag_name) + ": expected a whole number " + range_text(min, max) + ", got " +
                      quoted(text));
  }
  return v;
}

double to_double(std::string_view flag_name, std::string_view text, double min, double max) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || !(v >= min && v <= max)) {
    const std::string range = max == std::numeric_limits<double>::max()
                                  ? ">= " + number_text(min)
                                  : "in [" + number_text(min) + ", " + number_text(max) + "]";
    throw usage_error(std::string(flag_name) + ": expected a number " + range + ", got " + quoted(text));
  }
  return v;
}

parsed_args parse(const command& spec, std::span<char* const> args) {
  parsed_args out;
  bool flags_ended = false;
  for (size_t i = 1; i < args.size(); ++i) {
    std::string_view word = args[i];
    if (flags_ended || word.size() < 2 || word.front() != '-') {
      out.positional_.emplace_back(word);
      continue;
    }
    if (word == "--") {
      flags_ended = true;
      continue;
    }
    std::optional<std::string_view> inline_value;
    if (word.starts_with("--") && word.find('=') != std::string_view::npos) {
      inline_value = word.substr(word.find('=') + 1);
      word = word.substr(0, word.find('='));
    }
    const flag* f = find_flag(spec, word);
    if (f == nullptr) throw usage_error(unknown_flag(spec, word));
    if (f == &help_flag) {
      out.help_ = true;
      return out;
    }
    auto& slot = out.values_[parsed_args::key(f->name)];
    if (!f->takes_value()) {
      if (inline_value) throw usage_error(std::string(f->name) + ": takes no value");
      slot = {"1"};
      continue;
    }
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      throw usage_error(std::string(word) + ": needs a value (" + std::string(f->value) + ")");
    }
    if (!f->repeatable) slot.clear();
    slot.push_back(std::move(value));
  }
  return out;
}

std::string help_text(const command& spec) {
  std::string out;
  std::string_view synopsis = spec.synopsis;
  for (bool first = true; !synopsis.empty() || first; first = false) {
    const size_t nl = synopsis.find('\n');
    out += (first ? "usage: " : "       ") + std::string(spec.name) + " " + std::string(synopsis.substr(0, nl)) + "\n";
    synopsis = nl == std::string_view::npos ? std::string_view{} : synopsis.substr(nl + 1);
  }
  append_block(out, spec.description);
  std::vector<flag> flags = spec.flags;
  flags.push_back(help_flag);
  size_t width = 0;
  for (const auto& f : flags) width = std::max(width, left_column(f).size());
  width = std::min<size_t>(width, 28) + 2;
  out += "\nflags:\n";
  const std::string indent(width, ' ');
  for (const auto& f : flags) {
    std::string left = left_column(f);
    out += left;
    if (left.size() + 2 > width) {
      out += "\n" + indent;
    } else {
      out += std::string(width - left.size(), ' ');
    }
    for (char c : f.help) out += c == '\n' ? "\n" + indent : std::string(1, c);
    out += "\n";
  }
  append_block(out, spec.notes);
  return out;
}

int usage_failure(const command& spec, std::string_view message) {
  std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(spec.name.size()), spec.name.data(),
               static_cast<int>(message.size()), message.data());
  return exit_usage;
}

}  // namespace stampede::cli
