// res:json(selector): a path into a JSON document, in the subset of k6's (gjson) syntax that scripts
// use. Anything else is rejected with an error naming the part, never ignored.
//
//   a.b      key b of object a            a.0.b   element 0 (0-based) of array a, then its key b
//   a.#      the length of array a         a.#.b   key b of every element of array a, as an array
//   a\.b     the key "a.b" (\ escapes the next character)
//
// Not supported (an error): wildcards * and ?, queries #(...), modifiers @..., pipes |, multipaths
// [..] and {..}, and empty parts ("a..b", "a.").
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

namespace stampede::loadgen {

struct json_selector {
  // One part between dots; `count` is an unescaped "#".
  struct part {
    std::string key;
    bool count = false;
  };
  std::vector<part> parts;
};

// Throws std::invalid_argument naming the unsupported or malformed part.
json_selector parse_json_selector(std::string_view text);

// The selected value, or nullopt when the path does not exist in `document` (k6: undefined).
std::optional<boost::json::value> select_json(const boost::json::value& document,
                                              const json_selector& selector);

}  // namespace stampede::loadgen
