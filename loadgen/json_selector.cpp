#include "loadgen/json_selector.h"

#include <algorithm>
#include <stdexcept>

namespace stampede::loadgen {

namespace json = boost::json;

namespace {

constexpr const char* supported = " (supported: a.b, a.0.b, a.#, a.#.b; \\ escapes a character)";

[[noreturn]] void bad(std::string_view text, const std::string& what) {
  throw std::invalid_argument("selector '" + std::string(text) + "': " + what + supported);
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<json::value> select_from(const json::value& at, const std::vector<json_selector::part>& parts,
                                       size_t i) {
  if (i == parts.size()) return at;
  const auto& p = parts[i];
  if (p.count) {
    const json::array* a = at.if_array();
    if (a == nullptr) return std::nullopt;
    if (i + 1 == parts.size()) return json::value(static_cast<int64_t>(a->size()));
    json::array out;  // a.#.b: the rest of the path in every element, those that have it
    for (const auto& element : *a) {
      if (auto v = select_from(element, parts, i + 1)) out.push_back(std::move(*v));
    }
    return json::value(std::move(out));
  }
  if (const json::object* o = at.if_object()) {
    const json::value* v = o->if_contains(p.key);
    return v == nullptr ? std::nullopt : select_from(*v, parts, i + 1);
  }
  if (const json::array* a = at.if_array(); a != nullptr && all_digits(p.key) && p.key.size() < 10) {
    const size_t index = std::stoul(p.key);
    return index < a->size() ? select_from((*a)[index], parts, i + 1) : std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

json_selector parse_json_selector(std::string_view text) {
  if (text.empty()) bad(text, "empty (res:json() without a selector returns the whole body)");
  json_selector out;
  json_selector::part current;
  bool escaped_any = false;  // "\#" is the key "#", not a count
  auto finish = [&] {
    if (current.key.empty() && !escaped_any) bad(text, "empty part");
    if (current.key == "#" && !escaped_any) {
      current.key.clear();
      current.count = true;
    }
    out.parts.push_back(std::move(current));
    current = {};
    escaped_any = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\') {
      if (++i == text.size()) bad(text, "ends with a lone \\");
      current.key += text[i];
      escaped_any = true;
    } else if (c == '.') {
      finish();
    } else if (c == '*' || c == '?') {
      bad(text, std::string("wildcard '") + c + "' is not supported");
    } else if (c == '|' || c == '[' || c == ']' || c == '{' || c == '}') {
      bad(text, std::string("'") + c + "' (pipes and multipaths) is not supported");
    } else if (c == '@' && current.key.empty()) {
      bad(text, "modifiers (@...) are not supported");
    } else if (c == '#' && (current.key.empty() || current.key == "#") && i + 1 < text.size() &&
               text[i + 1] == '(') {
      bad(text, "queries #(...) are not supported");
    } else if (c == '#' && !current.key.empty()) {
      bad(text, "'#' must be a part of its own (a.# or a.#.b)");
    } else {
      if (current.key == "#" && !escaped_any) bad(text, "'#' must be a part of its own (a.# or a.#.b)");
      current.key += c;
    }
  }
  finish();
  return out;
}

std::optional<json::value> select_json(const json::value& document, const json_selector& selector) {
  return select_from(document, selector.parts, 0);
}

}  // namespace stampede::loadgen
