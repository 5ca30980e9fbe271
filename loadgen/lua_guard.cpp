#include "loadgen/lua_guard.h"

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <lua.hpp>

namespace stampede::loadgen {

namespace {

// The guard whose Lua run is on this thread, for the signal handler (static TLS: safe to read there).
__attribute__((tls_model("initial-exec"))) thread_local lua_guard* running_guard = nullptr;

int64_t nanos_since_epoch(lua_guard::clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string megabytes(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

// Sanitizers: ThreadSanitizer delivers a signal only when the thread reaches one of its interceptors,
// which a Lua loop never does, so there every thread carries the counting hook from the start (and the
// tests exercise the same checks, slower).
#if defined(__SANITIZE_THREAD__)
constexpr bool hook_always = true;
#else
constexpr bool hook_always = false;
#endif

}  // namespace

std::string_view to_string(lua_phase phase) noexcept {
  switch (phase) {
    case lua_phase::init: return "init";
    case lua_phase::setup: return "setup";
    case lua_phase::iteration: return "iteration";
    case lua_phase::teardown: return "teardown";
    case lua_phase::quiesce: return "quiesce";
    case lua_phase::verify: return "verify";
    case lua_phase::summary: return "handleSummary";
  }
  return "?";
}

lua_guard::lua_guard(size_t memory_limit) : limit_(memory_limit) {
  static std::once_flag installed;
  std::call_once(installed, [] {
    struct sigaction action {};
    action.sa_handler = &lua_guard::on_poke;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    ::sigaction(poke_signal(), &action, nullptr);
  });
}

int lua_guard::poke_signal() noexcept { return SIGRTMIN + 4; }

void lua_guard::accept_pokes() noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, poke_signal());
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

lua_guard& guard_of(lua_State* L) noexcept {
  void* ud = nullptr;
  lua_getallocf(L, &ud);
  return *static_cast<lua_guard*>(ud);
}

lua_guard* find_guard(lua_State* L) noexcept {
  void* ud = nullptr;
  return lua_getallocf(L, &ud) == &lua_guard::allocate ? static_cast<lua_guard*>(ud) : nullptr;
}

// ---- memory ----
void* lua_guard::allocate(void* ud, void* ptr, size_t old_size, size_t new_size) noexcept {
  auto& g = *static_cast<lua_guard*>(ud);
  const size_t old = ptr == nullptr ? 0 : old_size;  // for a new block, old_size is the object's type
  if (new_size == 0) {
    std::free(ptr);
    g.used_ -= old;
    return nullptr;
  }
  if (new_size > old) {
    // stop_here() unwinding a stopped script: refused even inside a harness scope (a metamethod that a C
    // function called may be what loops), until the next hook or the end of the run.
    if (g.failing_) return nullptr;
    const size_t after = g.used_ + (new_size - old);
    if (after > 2 * g.limit_ && g.harness_depth_ == 0) {
      g.note_refusal(ptr, new_size);
      return nullptr;  // Lua collects garbage in an emergency, retries, then raises "not enough memory"
    }
    if (after > g.limit_ && !g.over_limit_) {
      g.over_limit_ = true;  // checked at the next instruction (where an error may be raised)
      if (lua_State* L = g.running_.load(std::memory_order_relaxed); L != nullptr) {
        lua_sethook(L, &lua_guard::hook, LUA_MASKCOUNT, 1);
      }
    }
  }
  void* block = std::realloc(ptr, new_size);
  if (block == nullptr) return nullptr;
  g.used_ = g.used_ - old + new_size;
  return block;
}

void lua_guard::note_refusal(const void* ptr, size_t size) noexcept {
  refused_ = true;
  refused_size_ = size;
  refused_where_[0] = '\0';
  // Where the script was. Only for new blocks: while Lua reallocates an existing one (a table's array, a
  // coroutine's stack in some Lua versions), its own structures may be between two states.
  lua_State* L = running_.load(std::memory_order_relaxed);
  if (ptr != nullptr || L == nullptr) return;
  lua_Debug ar;
  for (int level = 0; lua_getstack(L, level, &ar) != 0; ++level) {
    if (lua_getinfo(L, "Sl", &ar) != 0 && ar.currentline > 0) {
      std::snprintf(refused_where_, sizeof refused_where_, "%s:%d", ar.short_src, ar.currentline);
      return;
    }
  }
}

std::string lua_guard::explain(std::string_view error) {
  if (!refused_ || error.rfind("not enough memory", 0) != 0) return std::string(error);
  refused_ = false;
  std::string out = refused_where_[0] != '\0' ? std::string(refused_where_) + ": " : std::string();
  out += "not enough memory: an allocation of " + megabytes(refused_size_) +
         " was refused, it would take the script past twice its memory limit of " + megabytes(limit_) +
         " (options.luaMemoryLimit, --lua-memory-limit)";
  return out;
}

void lua_guard::attach(lua_State* L) {
  main_ = L;
  // Threads copy their creator's hook: with it on the main thread, every VU's coroutine has it.
  if (hook_always) lua_sethook(L, &lua_guard::hook, LUA_MASKCOUNT, coroutine_hook_count);
}

void lua_guard::check_memory(lua_State* L, lua_Debug* ar) {
  over_limit_ = false;
  if (used_ <= limit_) return;
  ++harness_depth_;  // the checks below allocate a little; no refusal may interrupt them
  lua_gc(L, LUA_GCCOLLECT);  // garbage does not count
  if (used_ <= limit_) {
    --harness_depth_;
    return;
  }
  lua_getinfo(L, "Sl", ar);
  lua_pushfstring(L, "%s:%d: the script's memory passed its limit of %s (%s in use; options.luaMemoryLimit, "
                  "--lua-memory-limit)", ar->short_src, ar->currentline, megabytes(limit_).c_str(),
                  megabytes(used_).c_str());
  --harness_depth_;
  lua_error(L);
}

// ---- time ----
void lua_guard::enter(lua_State* running, lua_phase phase, clock::time_point deadline) noexcept {
  phase_ = phase;
  deadline_ = deadline;
  refused_ = false;
  harness_depth_ = 0;  // no harness scope spans a run; a Lua error may have left one counted
  running_.store(running, std::memory_order_relaxed);
  running_guard = this;
  thread_.store(pthread_self(), std::memory_order_relaxed);
  run_.store(run_.load(std::memory_order_relaxed) + 1, std::memory_order_release);  // odd: in Lua
  if (over_limit_) lua_sethook(running, &lua_guard::hook, LUA_MASKCOUNT, 1);  // a harness push went over
}

void lua_guard::leave() noexcept {
  failing_ = false;
  run_.store(run_.load(std::memory_order_relaxed) + 1, std::memory_order_release);  // even: out of Lua
  running_guard = nullptr;
  running_.store(nullptr, std::memory_order_relaxed);
}

void lua_guard::request_stop(bool hard) noexcept {
  int level = stop_level_.load();
  const int wanted = hard ? 2 : 1;
  while (level < wanted && !stop_level_.compare_exchange_weak(level, wanted)) {
  }
}

void lua_guard::clear_stop() noexcept { stop_level_.store(0); }

void lua_guard::watchdog_tick() noexcept {
  const uint64_t run = run_.load(std::memory_order_acquire);
  const auto now = clock::now();
  if ((run & 1) == 0) return;  // not in Lua
  if (run != watched_run_) {   // a new run since the last look
    watched_run_ = run;
    watched_since_ = now;
    return;
  }
  if (now - watched_since_ < watchdog_period) return;
  if (poked_run_.load(std::memory_order_relaxed) != run) {
    stalled_since_.store(nanos_since_epoch(watched_since_), std::memory_order_relaxed);
    poked_run_.store(run, std::memory_order_release);
  }
  // Again at every tick while the run lasts: the hook removes itself after each check.
  ::pthread_kill(thread_.load(std::memory_order_relaxed), poke_signal());
}

void lua_guard::on_poke(int) noexcept {
  if (lua_guard* g = running_guard; g != nullptr) g->poke();
}

void lua_guard::poke() noexcept {
  // lua_sethook may be called from a signal handler (ldebug.c): it sets a few fields and traps.
  if (lua_State* L = running_.load(std::memory_order_relaxed); L != nullptr) {
    lua_sethook(L, &lua_guard::hook, LUA_MASKCOUNT, 1);
  }
}

std::optional<interruption_cause> lua_guard::stop_due() const noexcept {
  const int level = stop_level_.load(std::memory_order_relaxed);
  if (level >= 2) return interruption_cause::signal;
  const bool stalled = poked_run_.load(std::memory_order_acquire) == run_.load(std::memory_order_relaxed);
  if (level == 1 && stalled) return interruption_cause::stopping;
  if (deadline_ != clock::time_point::max() && clock::now() >= deadline_) return interruption_cause::deadline;
  return std::nullopt;
}

void lua_guard::hook(lua_State* L, lua_Debug* ar) {
  lua_guard& g = guard_of(L);
  g.failing_ = false;
  if (g.tripped_) return g.stop_here(L);
  if (g.over_limit_) g.check_memory(L, ar);  // may raise the script's memory error
  if (const auto why = g.stop_due()) {
    g.trip(L, ar, *why);
    return g.stop_here(L);
  }
  if (lua_gethookcount(L) != 1) return;
  // An on-demand hook (count 1) has done its check. Coroutines the script made go back to their own
  // counting hook (and so does everything when the hook is always on).
  const bool ours = L == g.main_ || L == g.running_.load(std::memory_order_relaxed);
  if (ours && !hook_always) {
    lua_sethook(L, nullptr, 0, 0);
  } else {
    lua_sethook(L, &lua_guard::hook, LUA_MASKCOUNT, coroutine_hook_count);
  }
}

void lua_guard::trip(lua_State* L, lua_Debug* ar, interruption_cause why) {
  tripped_ = true;
  tripped_by_ = why;
  tripped_where_.clear();
  if (lua_getinfo(L, "Sl", ar) != 0 && ar->currentline > 0) {
    tripped_where_ = std::string(ar->short_src) + ":" + std::to_string(ar->currentline);
  }
  const int64_t since = stalled_since_.load(std::memory_order_relaxed);
  const bool known = poked_run_.load(std::memory_order_relaxed) == run_.load(std::memory_order_relaxed);
  stalled_s_ = known ? static_cast<double>(nanos_since_epoch(clock::now()) - since) / 1e9 : 0.0;
  // From now on every instruction stops, here and in the coroutine the worker resumed (if the script
  // runs its own coroutine, the resumed one takes over as soon as that one yields or ends).
  lua_sethook(L, &lua_guard::hook, LUA_MASKCOUNT, 1);
  if (lua_State* resumed = running_.load(std::memory_order_relaxed); resumed != nullptr && resumed != L) {
    lua_sethook(resumed, &lua_guard::hook, LUA_MASKCOUNT, 1);
  }
}

void lua_guard::stop_here(lua_State* L) {
  if (lua_isyieldable(L)) {
    lua_yield(L, 0);  // in a hook: returns, and Lua suspends the coroutine after it
    return;
  }
  // Unwind with an error that calls no message handler: an xpcall handler would run inside this hook,
  // where Lua calls no hook, so a handler that loops could never be stopped. A refused allocation raises
  // such an error ("not enough memory"); the guard keeps the real reason for the worker.
  failing_ = true;
  lua_newuserdatauv(L, 16, 0);  // refused: Lua throws LUA_ERRMEM from here
}

std::string describe(lua_phase phase, interruption_cause cause, std::string_view where, double stalled_s) {
  std::string what;
  switch (phase) {
    case lua_phase::init: what = "the script's top level"; break;
    case lua_phase::iteration: what = "the iteration"; break;
    default: what = std::string(to_string(phase)) + "()"; break;
  }
  std::string how;
  switch (cause) {
    case interruption_cause::deadline:
      how = phase == lua_phase::iteration ? "was stopped: it ran past its scenario's end + gracefulStop"
            : phase == lua_phase::init    ? "did not finish within the init timeout"
                                          : "did not finish within its timeout";
      break;
    case interruption_cause::stopping: how = "was stopped: it did not yield while the run was stopping"; break;
    case interruption_cause::signal: how = "was interrupted by a signal"; break;
  }
  std::string out = where.empty() ? std::string() : std::string(where) + ": ";
  out += what + " " + how;
  if (stalled_s > 0) {
    char ran[64];
    std::snprintf(ran, sizeof ran, " (it ran %.1f s without yielding)", stalled_s);
    out += ran;
  }
  return out;
}

script_interruption lua_guard::take_interruption() {
  script_interruption out;
  out.phase = phase_;
  out.cause = tripped_by_;
  out.where = tripped_where_;
  out.stalled_s = stalled_s_;
  out.reason = describe(phase_, tripped_by_, tripped_where_, stalled_s_);
  tripped_ = false;
  tripped_by_ = interruption_cause::deadline;
  tripped_where_.clear();
  stalled_s_ = 0;
  return out;
}

// ---- coroutines the script creates ----
void lua_guard::watch_coroutine(lua_State* co) {
  lua_sethook(co, &lua_guard::hook, LUA_MASKCOUNT, coroutine_hook_count);
}

namespace {

int watched_create(lua_State* L) {  // upvalue 1: the original coroutine.create
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);  // [+1] the coroutine
  if (lua_type(L, -1) == LUA_TTHREAD) guard_of(L).watch_coroutine(lua_tothread(L, -1));
  return 1;
}

int watched_wrap(lua_State* L) {  // upvalue 1: the original coroutine.wrap
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);  // [+1] the wrapping function; its first upvalue is the coroutine
  if (lua_getupvalue(L, -1, 1) != nullptr) {  // [+1]
    if (lua_type(L, -1) == LUA_TTHREAD) guard_of(L).watch_coroutine(lua_tothread(L, -1));
    lua_pop(L, 1);
  }
  return 1;
}

}  // namespace

void lua_guard::wrap_coroutine_library(lua_State* L) {
  if (lua_getglobal(L, "coroutine") != LUA_TTABLE) {  // [+1]
    lua_pop(L, 1);
    return;
  }
  lua_getfield(L, -1, "create");  // [+1]
  lua_pushcclosure(L, watched_create, 1);
  lua_setfield(L, -2, "create");
  lua_getfield(L, -1, "wrap");  // [+1]
  lua_pushcclosure(L, watched_wrap, 1);
  lua_setfield(L, -2, "wrap");
  lua_pop(L, 1);
}

}  // namespace stampede::loadgen
