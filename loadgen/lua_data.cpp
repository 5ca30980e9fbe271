// Reading data from a scenario: open() at the script's top level (inside the sandbox, lua_sandbox.h)
// and csv.parse (docs/SCENARIOS.md).
#include <fstream>
#include <sstream>
#include <vector>

#include "loadgen/lua_bindings.h"
#include "loadgen/worker.h"

namespace stampede::loadgen {

namespace {

int lua_open(lua_State* L) {
  if (current_vu(L) != nullptr) {
    return luaL_error(L, "open() is only available at the top level of the script (init), not in VU code");
  }
  const std::string_view path = luaL_checkstring(L, 1);
  return lua_guarded(L, [&] {
    const lua_sandbox& sandbox = owner_of(L).sandbox();
    const std::string file = sandbox.readable(path, "open()", lua_sandbox::relative_to::script_folder);
    std::ifstream in(file, std::ios::binary);
    if (!in) throw lua_usage_error("open(): cannot read '" + file + "'");
    sandbox.note_data_file(file);
    std::ostringstream content;
    content << in.rdbuf();
    const std::string text = content.str();
    lua_pushlstring(L, text.data(), text.size());
    return 1;
  });
}

// csv.parse(text, {header = true, delimiter = ","}): RFC 4180 quoting; rows as tables
// keyed by the header's names (header = true, the default) or as arrays.
int lua_csv_parse(lua_State* L) {
  const std::string_view text = luaL_checkstring(L, 1);
  bool header = true;
  char delimiter = ',';
  if (lua_type(L, 2) == LUA_TTABLE) {
    if (lua_getfield(L, 2, "header") != LUA_TNIL) header = lua_toboolean(L, -1) != 0;
    lua_pop(L, 1);
    if (lua_getfield(L, 2, "delimiter") == LUA_TSTRING && lua_rawlen(L, -1) == 1)
      delimiter = lua_tostring(L, -1)[0];
    lua_pop(L, 1);
  }
  return lua_guarded(L, [&] {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool quoted = false, field_started = false;
    size_t line = 1;
    for (size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (quoted) {
        if (c == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field += '"';
            ++i;
          } else {
            quoted = false;
          }
        } else {
          if (c == '\n') ++line;
          field += c;
        }
      } else if (c == '"' && !field_started) {
        quoted = field_started = true;
      } else if (c == delimiter) {
        row.push_back(std::move(field));
        field.clear();
        field_started = false;
      } else if (c == '\n' || c == '\r') {
        if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
        row.push_back(std::move(field));
        field.clear();
        field_started = false;
        if (!(row.size() == 1 && row[0].empty())) rows.push_back(std::move(row));
        row.clear();
        ++line;
      } else {
        field += c;
        field_started = true;
      }
    }
    if (quoted) throw lua_usage_error("csv.parse: unterminated quote (line " + std::to_string(line) + ")");
    if (field_started || !row.empty()) {
      row.push_back(std::move(field));
      rows.push_back(std::move(row));
    }
    lua_createtable(L, static_cast<int>(rows.size()), 0);
    size_t first = 0;
    if (header && !rows.empty()) first = 1;
    for (size_t r = first; r < rows.size(); ++r) {
      lua_createtable(L, header ? 0 : static_cast<int>(rows[r].size()),
                      header ? static_cast<int>(rows[r].size()) : 0);
      for (size_t c = 0; c < rows[r].size(); ++c) {
        lua_pushlstring(L, rows[r][c].data(), rows[r][c].size());
        if (header) {
          if (c < rows[0].size()) {
            lua_setfield(L, -2, rows[0][c].c_str());
          } else {
            lua_pop(L, 1);
          }
        } else {
          lua_rawseti(L, -2, static_cast<lua_Integer>(c + 1));
        }
      }
      lua_rawseti(L, -2, static_cast<lua_Integer>(r - first + 1));
    }
    return 1;
  });
}

}  // namespace

void add_data_functions(lua_State* L, worker& owner) {
  const luaL_Reg functions[] = {{"__csv_parse", lua_csv_parse}, {"open", lua_open}, {nullptr, nullptr}};
  lua_pushlightuserdata(L, &owner);
  luaL_setfuncs(L, functions, 1);
}

}  // namespace stampede::loadgen
