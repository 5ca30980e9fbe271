// What a scenario's Lua code may reach on the machine. CI runs scenarios from branches nobody has
// reviewed yet, so by default a scenario gets the standard library a load test needs and nothing that
// acts on the machine (docs/SCENARIOS.md "Sandbox", SECURITY.md):
//   - no process spawning or exit: os.execute, io.popen, os.exit are gone;
//   - no native code: package.loadlib and the C searchers are gone, package.cpath is empty;
//   - no writes: io.open accepts read modes only; io.output, io.input, io.tmpfile, os.remove, os.rename,
//     os.tmpname are gone; no standard input either (io.read, io.stdin, io.lines()): a read that waits
//     there is C code no hook can interrupt;
//   - no environment or process state: os.getenv (scenarios get `env`), os.setlocale are gone;
//   - debug keeps debug.traceback only; load takes text chunks only (binary chunks can break the VM);
//     setmetatable refuses __gc (a finalizer runs where no hook can interrupt it);
//   - files are read inside the scenario's folder only (open, io.open, io.lines, loadfile, dofile),
//     and require loads Lua files from that folder or from the module path the operator set (LUA_PATH,
//     the Lua defaults) only, whatever the script does to package.path.
// `--unsafe-lua` (run_request::unsafe_lua) keeps Lua's whole standard library as it is.
//
// Thread-safety: one sandbox per Lua state, used by the thread that runs it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

struct lua_State;

namespace stampede::loadgen {

class lua_sandbox {
 public:
  explicit lua_sandbox(bool unsafe) : unsafe_(unsafe) {}
  lua_sandbox(const lua_sandbox&) = delete;
  lua_sandbox& operator=(const lua_sandbox&) = delete;

  // Opens the standard libraries into the real global table, trimmed unless unsafe. The sandbox must
  // outlive the state (its functions point to it).
  void open_libraries(lua_State* L);
  // The scenario's file: its folder goes first on the module path and, unless unsafe, is the one folder
  // files are read from.
  void set_script(lua_State* L, const std::string& script_path);

  // `path` as the script wrote it, for reading: relative paths are relative to the scenario's folder
  // (open()) or, as in Lua, to the current directory (io.open and the others). Throws
  // std::runtime_error (with `what` and the reason) if the sandbox does not allow it.
  enum class relative_to { script_folder, current_directory };
  std::string readable(std::string_view path, std::string_view what, relative_to base) const;
  // Notes a file open() read (as readable() resolved it), once: the data files a distributed run's
  // coordinator sends its agents (distributed/data_files.h). Const: reading is what the sandbox is asked to
  // allow.
  void note_data_file(const std::string& resolved) const;
  const std::vector<std::string>& data_files() const noexcept { return data_files_; }
  // The scenario's folder (canonical; empty before set_script).
  const std::filesystem::path& folder() const noexcept { return folder_; }
  // A module file require() found: allowed if inside the scenario's folder or a module path root.
  bool module_allowed(const std::filesystem::path& file) const;
  bool unsafe() const noexcept { return unsafe_; }

 private:
  bool unsafe_;
  std::filesystem::path folder_;                     // canonical
  std::vector<std::filesystem::path> module_roots_;  // canonical; the folder first
  mutable std::vector<std::string>
      data_files_;  // note_data_file(): a record of reads, not the sandbox's state
};

}  // namespace stampede::loadgen
