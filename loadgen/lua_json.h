// JSON <-> Lua values (Boost.JSON). Arrays decode to tables marked with json.array's metatable so
// that an empty array encodes back as [] (Lua cannot tell {} from [] otherwise).
#pragma once

#include <string>
#include <string_view>

struct lua_State;

namespace boost::json {
class value;
}

namespace stampede::loadgen {

// Registers `json = {encode, decode, null, array}` into the table at the top of the stack. [-0, +0]
void open_json_library(lua_State* L);
// Pushes the decoded document; throws lua_usage_error for invalid JSON. [-0, +1]
void push_json(lua_State* L, std::string_view text);
// Pushes a parsed value, as push_json would decode it. [-0, +1]
void push_json_value(lua_State* L, const boost::json::value& value);
// Encodes the value at `index`; throws lua_usage_error for functions, cycles, NaN, depth > 200. [-0, +0]
std::string encode_json(lua_State* L, int index);

}  // namespace stampede::loadgen
