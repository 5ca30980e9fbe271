// http.batch of the scenario API (docs/SCENARIOS.md, "Batches"): reads every request of the list into the
// VU's http_batch (http_batch.h) with lua_http.cpp's reader and hands the batch to the worker
// (worker_batch.cpp), which resumes the VU with the list of responses.
#include <memory>
#include <string>

#include "loadgen/http_batch.h"
#include "loadgen/lua_http_request.h"

namespace stampede::loadgen {

namespace {

// [+4] The fields of the batch request on top (at `entry`): method, url, body, params. A request is a
// list {method, url, body, params} (k6's array form), a table {method=, url=, body=, params=} or a URL
// string (GET).
void push_batch_fields(lua_State* L, int entry, lua_Integer position) {
  switch (lua_type(L, entry)) {
    case LUA_TSTRING:
      lua_pushliteral(L, "GET");
      lua_pushvalue(L, entry);
      lua_pushnil(L);
      lua_pushnil(L);
      return;
    case LUA_TTABLE:
      if (lua_rawgeti(L, entry, 1) != LUA_TNIL) {  // [+1] the list form
        for (int i = 2; i <= 4; ++i) lua_rawgeti(L, entry, i);
        return;
      }
      lua_pop(L, 1);
      if (lua_getfield(L, entry, "method") == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushliteral(L, "GET");
      }
      lua_getfield(L, entry, "url");
      lua_getfield(L, entry, "body");
      lua_getfield(L, entry, "params");
      return;
    default:
      throw script_mistake("http.batch: request " + std::to_string(position) +
                           " must be a list {method, url, body, params}, a table {method=, url=, ...} or a URL");
  }
}

}  // namespace

// __batch(requests): http.batch. Builds every request into the VU's batch and starts them; the VU yields
// and the worker resumes it with the list of responses (worker_batch.cpp). A request that cannot be sent
// (a bad URL or method) is answered by a response with status 0 and its error, not a Lua error.
int lua_batch(lua_State* L) {
  vu& v = require_vu(L, "http.batch");
  worker& w = owner_of(L);
  bool answered = false;  // an empty batch: the empty list, without yielding
  api_guarded(L, [&] {
    if (lua_type(L, 1) != LUA_TTABLE) throw script_mistake("http.batch: expected a list of requests");
    lua_settop(L, 1);
    if (!v.batch) v.batch = std::make_unique<http_batch>();
    http_batch& b = *v.batch;
    b.clear();
    const auto n = static_cast<lua_Integer>(lua_rawlen(L, 1));
    for (lua_Integer i = 1; i <= n; ++i) {
      lua_rawgeti(L, 1, i);          // [+1] slot 2: the request
      push_batch_fields(L, 2, i);    // [+4] slots 3..6
      if (lua_type(L, 6) == LUA_TTABLE && lua_getfield(L, 6, "history") != LUA_TNIL) {
        throw script_mistake("http.batch: params.history is not supported in a batch (use http.request)");
      }
      auto item = std::make_unique<batch_item>(v, static_cast<size_t>(i - 1));
      try {
        read_request(L, 3, v, w, item->request, item.get());
      } catch (const script_mistake&) {
        throw;
      } catch (const lua_usage_error& e) {
        item->invalid = e.what();
        item->outcome.error = error_kind::other;
        item->outcome.error_message = e.what();
      }
      b.items.push_back(std::move(item));
      lua_settop(L, 1);
    }
    if (b.items.empty()) {
      lua_newtable(L);
      answered = true;
      return 1;
    }
    w.start_batch(v);
    return 0;
  });
  if (answered) return 1;
  return lua_yield(L, 0);
}


}  // namespace stampede::loadgen
