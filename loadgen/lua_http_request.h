// What http.batch (lua_http_batch.cpp) shares with the rest of http.* (lua_http.cpp): reading one request
// from the Lua stack, and how the API reports a script mistake. Internal to the loadgen library.
#pragma once

#include <lua.hpp>
#include <string>

#include "loadgen/lua_bindings.h"
#include "loadgen/vu.h"

namespace stampede::loadgen {

// ---- script mistakes ----
// A mistake in how the script calls the API that no iteration can get past (a relative URL without a
// target, an unknown request parameter, an unsupported res:json selector). It ends the iteration like
// any error and also stops the run, at its first occurrence (exit 107), instead of failing every
// iteration of the test.
struct script_mistake : lua_usage_error {
  using lua_usage_error::lua_usage_error;
};

// As lua_guarded; a script_mistake also stops the run, with the script's file:line.
template <class F>
int api_guarded(lua_State* L, F&& body) {
  return lua_guarded(L, [&] {
    try {
      return body();
    } catch (const script_mistake& e) {
      if (vu* v = current_vu(L); v != nullptr) {
        push_script_where(L);  // [+1]
        std::string where = lua_tostring(L, -1);
        lua_pop(L, 1);
        v->owner.abort_run(where + e.what(), stop_cause::script_error);
      }
      throw;
    }
  });
}

// The request at stack slots base..base+3 (method, url, body, params) into `r`. `item`: a request of
// http.batch, with its own URL; nullptr: the VU's own request, through the VU's target cache. Throws
// lua_usage_error (the request cannot be sent) or script_mistake.
void read_request(lua_State* L, int base, vu& v, worker& w, http_request& r, batch_item* item);

// __batch(requests): http.batch (lua_http_batch.cpp).
int lua_batch(lua_State* L);

}  // namespace stampede::loadgen
