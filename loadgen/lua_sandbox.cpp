#include "loadgen/lua_sandbox.h"

#include <algorithm>
#include <cstring>
#include <lua.hpp>
#include <stdexcept>
#include <system_error>

#include "loadgen/lua_support.h"

namespace stampede::loadgen {

namespace fs = std::filesystem;

namespace {

constexpr const char* unsafe_hint = " (stampede run --unsafe-lua allows it)";

lua_sandbox& sandbox_of(lua_State* L) {
  return *static_cast<lua_sandbox*>(lua_touserdata(L, lua_upvalueindex(1)));
}

bool inside(const fs::path& file, const fs::path& root) {
  auto f = file.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++f) {
    if (r->empty() && std::next(r) == root.end()) break;  // a trailing separator
    if (f == file.end() || *f != *r) return false;
  }
  return true;
}

int not_available(lua_State* L) {  // upvalue 1: the message
  return luaL_error(L, "%s", lua_tostring(L, lua_upvalueindex(1)));
}

// Replaces `names` of the table at the top of the stack (library `library`) by functions that raise
// a clear error: a removed function should say why, not "attempt to call a nil value".
void remove_fields(lua_State* L, const char* library, std::initializer_list<const char*> names,
                   const char* why) {
  for (const char* name : names) {
    lua_pushfstring(L, "%s.%s is not available to scenarios (%s)%s", library, name, why, unsafe_hint);
    lua_pushcclosure(L, not_available, 1);
    lua_setfield(L, -2, name);
  }
}

// Replaces table.name (table at the top of the stack) by `replacement`, which gets the sandbox as
// upvalue 1 and the original function as upvalue 2.
void replace(lua_State* L, lua_sandbox& sandbox, const char* name, lua_CFunction replacement) {
  lua_pushlightuserdata(L, &sandbox);
  lua_getfield(L, -2, name);  // [+1] the original
  lua_pushcclosure(L, replacement, 2);
  lua_setfield(L, -2, name);
}

// Calls upvalue 2 (the original function) with the arguments on the stack; returns its results.
int call_original(lua_State* L) {
  const int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

// Replaces the string at `index` (a path) by its resolved, allowed form; raises a Lua error if refused.
void confine_argument(lua_State* L, int index, std::string_view what) {
  size_t length = 0;
  const char* text = luaL_checklstring(L, index, &length);
  lua_guarded(L, [&] {
    const std::string resolved = sandbox_of(L).readable(std::string_view(text, length), what,
                                                        lua_sandbox::relative_to::current_directory);
    lua_pushlstring(L, resolved.data(), resolved.size());
    lua_replace(L, index);
    return 0;
  });
}

// load(chunk [, chunkname [, mode [, env]]]): text chunks only.
int safe_load(lua_State* L) {
  const char* mode = lua_type(L, 3) == LUA_TSTRING ? lua_tostring(L, 3) : nullptr;
  if (mode != nullptr && std::strchr(mode, 't') == nullptr) {
    return luaL_error(L, "load: binary chunks are not allowed%s", unsafe_hint);
  }
  const int n = lua_gettop(L);
  lua_settop(L, std::max(n, 4));
  lua_pushliteral(L, "t");
  lua_replace(L, 3);
  if (n < 4) lua_settop(L, 3);  // no env argument: the chunk gets the global environment
  return call_original(L);
}

// loadfile(filename [, mode [, env]]) inside the scenario's folder, text chunks only.
int safe_loadfile(lua_State* L) {
  if (lua_isnoneornil(L, 1)) return luaL_error(L, "loadfile: a file name is required");
  confine_argument(L, 1, "loadfile");
  const int n = lua_gettop(L);
  lua_settop(L, std::max(n, 3));
  lua_pushliteral(L, "t");
  lua_replace(L, 2);
  if (n < 3) lua_settop(L, 2);
  return call_original(L);
}

// dofile(filename) inside the scenario's folder.
int safe_dofile(lua_State* L) {
  if (lua_isnoneornil(L, 1)) return luaL_error(L, "dofile: a file name is required");
  confine_argument(L, 1, "dofile");
  lua_settop(L, 1);
  if (luaL_loadfilex(L, lua_tostring(L, 1), "t") != LUA_OK) return lua_error(L);
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L) - 1;
}

// io.open(filename [, mode]): read modes, inside the scenario's folder.
int safe_io_open(lua_State* L) {
  const char* mode = luaL_optstring(L, 2, "r");
  if (mode[0] != 'r' || std::strchr(mode, '+') != nullptr) {
    return luaL_error(L, "io.open: mode '%s' writes; scenarios may only read files%s", mode, unsafe_hint);
  }
  confine_argument(L, 1, "io.open");
  return call_original(L);
}

// io.lines(filename, ...): a named file inside the scenario's folder (not standard input: a read that
// waits there could not be interrupted).
int safe_io_lines(lua_State* L) {
  if (lua_isnoneornil(L, 1)) {
    return luaL_error(L, "io.lines: a file name is required (scenarios do not read standard input)%s",
                      unsafe_hint);
  }
  confine_argument(L, 1, "io.lines");
  return call_original(L);
}

// setmetatable(t, mt) without __gc: a finalizer runs inside the garbage collector, where no hook can
// stop an endless loop.
int safe_setmetatable(lua_State* L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    const bool finalizer = lua_rawget(L, 2) != LUA_TNIL;
    lua_pop(L, 1);
    if (finalizer)
      return luaL_error(L, "setmetatable: __gc finalizers are not available to scenarios%s", unsafe_hint);
  }
  return call_original(L);
}

// package.searchers entry: Lua files only, from the scenario's folder or the module path roots.
int confined_searcher(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  lua_getfield(L, lua_upvalueindex(2), "path");  // [+1] package.path as it is now
  const char* path = lua_isstring(L, -1) ? lua_tostring(L, -1) : "";
  return lua_guarded(L, [&] {
    std::string file_name = name;
    for (char& c : file_name) {
      if (c == '.') c = '/';
    }
    const std::string_view templates = path;
    std::string tried;
    for (size_t start = 0; start <= templates.size();) {
      const size_t end = std::min(templates.find(';', start), templates.size());
      std::string candidate(templates.substr(start, end - start));
      start = end + 1;
      if (candidate.empty()) continue;
      for (size_t q = candidate.find('?'); q != std::string::npos;
           q = candidate.find('?', q + file_name.size())) {
        candidate.replace(q, 1, file_name);
      }
      std::error_code ec;
      if (!fs::is_regular_file(candidate, ec)) {
        tried += (tried.empty() ? "no file '" : "\n\tno file '") + candidate + "'";
        continue;
      }
      if (!sandbox_of(L).module_allowed(candidate)) {
        throw lua_usage_error("module '" + std::string(name) + "': '" + candidate +
                              "' is outside the scenario's folder and the module path" + unsafe_hint);
      }
      if (luaL_loadfilex(L, candidate.c_str(), "t") != LUA_OK) {  // [+1] the loader or a message
        std::string message = lua_tostring(L, -1);
        lua_pop(L, 1);
        throw lua_usage_error("error loading module '" + std::string(name) + "' from file '" + candidate +
                              "':\n\t" + message);
      }
      lua_pushstring(L, candidate.c_str());  // the loader's second argument, as Lua's own searcher does
      return 2;
    }
    tried += "\n\tno C module: native code is not available to scenarios";
    tried += unsafe_hint;
    lua_pushstring(L, tried.c_str());
    return 1;
  });
}

void trim_package(lua_State* L, lua_sandbox& sandbox) {
  lua_getfield(L, -1, "package");  // [+1]
  remove_fields(L, "package", {"loadlib"}, "no native code");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  // searchers = { the preload searcher (Lua's first), the confined Lua searcher }
  lua_getfield(L, -1, "searchers");  // [+1]
  lua_createtable(L, 2, 0);          // [+1]
  lua_rawgeti(L, -2, 1);
  lua_rawseti(L, -2, 1);
  lua_pushlightuserdata(L, &sandbox);
  lua_pushvalue(L, -4);  // package
  lua_pushcclosure(L, confined_searcher, 2);
  lua_rawseti(L, -2, 2);
  lua_setfield(L, -3, "searchers");
  lua_pop(L, 2);
}

}  // namespace

void lua_sandbox::open_libraries(lua_State* L) {
  luaL_openlibs(L);
  if (unsafe_) return;
  lua_pushglobaltable(L);  // [+1] the real globals (package.loaded holds the same tables)
  replace(L, *this, "load", safe_load);
  replace(L, *this, "loadfile", safe_loadfile);
  replace(L, *this, "dofile", safe_dofile);
  replace(L, *this, "setmetatable", safe_setmetatable);

  lua_getfield(L, -1, "os");  // [+1]
  remove_fields(L, "os", {"execute"}, "no processes");
  remove_fields(L, "os", {"exit", "setlocale"}, "they act on the whole generator");
  remove_fields(L, "os", {"getenv"}, "values come through the env table: stampede run -e KEY=VALUE");
  remove_fields(L, "os", {"remove", "rename", "tmpname"}, "no file changes");
  lua_pop(L, 1);

  lua_getfield(L, -1, "io");  // [+1]
  remove_fields(L, "io", {"popen"}, "no processes");
  remove_fields(L, "io", {"tmpfile", "output", "input"},
                "no file changes; io.open reads files in the scenario's folder");
  remove_fields(L, "io", {"read"}, "no standard input: a read that waits cannot be interrupted");
  lua_pushnil(L);
  lua_setfield(L, -2, "stdin");
  replace(L, *this, "open", safe_io_open);
  replace(L, *this, "lines", safe_io_lines);
  lua_pop(L, 1);

  lua_getfield(L, -1, "debug");  // [+1] keep traceback only (the prelude's error handler)
  std::vector<std::string> names;
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {  // stack: debug, key, value
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) names.emplace_back(lua_tostring(L, -1));
  }
  for (const auto& name : names) {
    if (name != "traceback") remove_fields(L, "debug", {name.c_str()}, "only debug.traceback is");
  }
  lua_pop(L, 1);

  trim_package(L, *this);
  lua_pop(L, 1);
}

void lua_sandbox::set_script(lua_State* L, const std::string& script_path) {
  std::error_code ec;
  const fs::path dir = fs::path(script_path).parent_path();
  folder_ = fs::weakly_canonical(dir.empty() ? fs::current_path(ec) : fs::absolute(dir, ec), ec);
  // Modules next to the scenario first, then the path the environment set (LUA_PATH or Lua's default).
  lua_getglobal(L, "package");  // [+1]
  lua_getfield(L, -1, "path");  // [+1]
  const std::string folder = dir.empty() ? std::string(".") : dir.string();
  const std::string search = folder + "/?.lua;" + folder + "/?/init.lua;" + lua_tostring(L, -1);
  lua_pop(L, 1);
  lua_pushstring(L, search.c_str());
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  // The folders of that path's absolute entries are where require may read, whatever the script later
  // does to package.path; relative entries ("./?.lua") add nothing beyond the scenario's folder.
  module_roots_ = {folder_};
  size_t start = 0;
  while (start < search.size()) {
    const size_t end = std::min(search.find(';', start), search.size());
    const std::string entry = search.substr(start, end - start);
    start = end + 1;
    if (entry.empty() || entry.front() != '/') continue;
    const fs::path root = fs::path(entry.substr(0, entry.find('?'))).parent_path();
    const fs::path canonical = fs::weakly_canonical(root, ec);
    if (!ec && !canonical.empty()) module_roots_.push_back(canonical);
  }
}

std::string lua_sandbox::readable(std::string_view path, std::string_view what, relative_to base) const {
  fs::path file{std::string(path)};
  if (file.is_relative() && base == relative_to::script_folder && !folder_.empty()) file = folder_ / file;
  if (unsafe_) return file.string();
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(file, ec);
  if (ec || !inside(resolved, folder_)) {
    throw std::runtime_error(std::string(what) + ": '" + std::string(path) +
                             "' is outside the scenario's folder (" + folder_.string() +
                             "); scenarios read files there only" + unsafe_hint);
  }
  return resolved.string();
}

void lua_sandbox::note_data_file(const std::string& resolved) const {
  if (std::find(data_files_.begin(), data_files_.end(), resolved) == data_files_.end())
    data_files_.push_back(resolved);
}

bool lua_sandbox::module_allowed(const fs::path& file) const {
  std::error_code ec;
  const fs::path resolved = fs::canonical(file, ec);
  if (ec) return false;
  for (const auto& root : module_roots_) {
    if (inside(resolved, root)) return true;
  }
  return false;
}

}  // namespace stampede::loadgen
