// res:json(selector)'s path language (loadgen/json_selector.h) on a document with known answers.
#include "loadgen/json_selector.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace stampede::loadgen {
namespace {

namespace json = boost::json;

const json::value document = json::parse(R"({
  "user": { "name": "ada", "roles": ["admin", "ops"], "a.b": "dotted", "#": "hash", "0": "zero key" },
  "items": [ { "id": 7, "tags": ["x"] }, { "id": 8 }, { "sku": "no id" } ],
  "empty": [],
  "nothing": null
})");

std::optional<json::value> select(std::string_view path) {
  return select_json(document, parse_json_selector(path));
}

TEST(json_selector, keys_indexes_lengths_and_keys_of_every_element) {
  EXPECT_EQ(select("user.name"), json::value("ada"));
  EXPECT_EQ(select("user.roles.1"), json::value("ops"));
  EXPECT_EQ(select("items.0.id"), json::value(7));
  EXPECT_EQ(select("items.0.tags.0"), json::value("x"));
  EXPECT_EQ(select("items.#"), json::value(3));
  EXPECT_EQ(select("empty.#"), json::value(0));
  EXPECT_EQ(select("items.#.id"), json::parse("[7, 8]"));  // elements without the key are left out
  EXPECT_EQ(select("items.#.tags.#"), json::parse("[1]"));
  EXPECT_EQ(select("user"), document.at("user"));
  EXPECT_EQ(select("nothing"), json::value(nullptr));  // present and null: not the same as absent
}

TEST(json_selector, escapes_and_digit_keys_of_objects) {
  EXPECT_EQ(select("user.a\\.b"), json::value("dotted"));
  EXPECT_EQ(select("user.\\#"), json::value("hash"));
  EXPECT_EQ(select("user.0"), json::value("zero key"));  // digits on an object are a key
}

TEST(json_selector, absent_paths_are_nullopt) {
  EXPECT_FALSE(select("missing").has_value());
  EXPECT_FALSE(select("user.name.first").has_value());  // into a string
  EXPECT_FALSE(select("items.3").has_value());          // out of range
  EXPECT_FALSE(select("items.id").has_value());         // a key on an array
  EXPECT_FALSE(select("user.#").has_value());           // # of an object
  EXPECT_FALSE(select("user.roles.-1").has_value());
  EXPECT_FALSE(select("user.roles.99999999999999").has_value());
}

TEST(json_selector, unsupported_forms_are_errors_that_name_them) {
  const auto error_of = [](std::string_view path) {
    try {
      (void)parse_json_selector(path);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_NE(error_of("items.#(id==7).tags").find("queries #(...) are not supported"), std::string::npos);
  EXPECT_NE(error_of("items.*.id").find("wildcard '*'"), std::string::npos);
  EXPECT_NE(error_of("user.na?e").find("wildcard '?'"), std::string::npos);
  EXPECT_NE(error_of("items|@reverse").find("pipes and multipaths"), std::string::npos);
  EXPECT_NE(error_of("items.@reverse").find("modifiers"), std::string::npos);
  EXPECT_NE(error_of("[user.name,items.#]").find("pipes and multipaths"), std::string::npos);
  EXPECT_NE(error_of("items.#x").find("'#' must be a part of its own"), std::string::npos);
  EXPECT_NE(error_of("items..id").find("empty part"), std::string::npos);
  EXPECT_NE(error_of("items.").find("empty part"), std::string::npos);
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("user\\").find("lone \\"), std::string::npos);
  // Every message names the selector and the supported forms.
  EXPECT_NE(error_of("a.*").find("selector 'a.*'"), std::string::npos);
  EXPECT_NE(error_of("a.*").find("supported: a.b, a.0.b, a.#, a.#.b"), std::string::npos);
}

}  // namespace
}  // namespace stampede::loadgen
