// A worker's Lua state: the scenario script, the Stampede API, and one coroutine per VU.
//
// Globals: the script's top level runs once per worker and defines shared globals (functions,
// data). Inside a VU, assignments to globals go to that VU's private table and reads look there
// first, so `token = res:json().token` in one VU is never seen by another (k6 users rely on this
// isolation); modules loaded with require() get the same per-VU globals. Top-level `local`s are shared
// by the worker's VUs: treat them as read-only.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "loadgen/lua_guard.h"
#include "loadgen/lua_sandbox.h"

struct lua_State;

namespace stampede::loadgen {

class worker;
struct vu;

class lua_runtime {
 public:
  explicit lua_runtime(worker& owner);
  ~lua_runtime();
  lua_runtime(const lua_runtime&) = delete;
  lua_runtime& operator=(const lua_runtime&) = delete;

  lua_State* state() const noexcept { return L_; }
  // Memory and time limits of this state's Lua code (lua_guard.h).
  lua_guard& guard() noexcept { return guard_; }
  const lua_sandbox& sandbox() const noexcept { return sandbox_; }

  // Loads and runs the script's top level, stopped after `timeout` (or a stop request) if it does
  // not finish. Throws script_error ("file:line: message"); `stopped` is set first when the guard stopped it.
  void load_script(const std::string& path, std::chrono::nanoseconds timeout,
                   std::optional<script_interruption>& stopped);
  // Decodes setup()'s result for every VU's `data` argument. Throws script_error.
  void set_setup_data(std::string_view json);
  bool has_function(std::string_view name) const;

  // Creates the VU's coroutine. Its private globals and `vu` table come at their first use, except for
  // setup()'s and teardown()'s VU (no scenario), which is named `scenario_name` in its `vu` table.
  void create_thread(vu& v, std::string_view scenario_name);
  void release_thread(vu& v);
  // Pushes onto the VU's thread what the first resume needs; returns the argument count.
  int push_iteration_start(vu& v, std::string_view exec);
  // setup / teardown / verify; `argument_json` replaces the setup data as the argument. Throws script_error.
  int push_special_start(vu& v, std::string_view function, const std::string* argument_json = nullptr);
  void update_vu_table(vu& v);
  // Pushes the response object for the VU's finished request onto its thread. [-0, +1]
  void push_response(vu& v);
  // Pushes the list of responses of the VU's finished http.batch onto its thread. [-0, +1]
  void push_batch_responses(vu& v);

 private:
  worker& owner_;
  lua_guard guard_;      // before L_: the allocator's state outlives lua_close
  lua_sandbox sandbox_;
  lua_State* L_;
  int data_ref_;
  int proxy_ref_;
  int shared_ref_;   // the real global table (shared definitions); the registry's globals is the proxy
};

// The VU running on a Lua thread, or nullptr outside VU code (the script's top level).
vu* current_vu(lua_State* L) noexcept;

}  // namespace stampede::loadgen
