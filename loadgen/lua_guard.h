// Limits on what a scenario's Lua code may take from the thread that runs it: memory and time.
//
// Memory: the Lua state's allocator counts its bytes. Once they pass the limit (options.luaMemoryLimit),
// the next Lua instruction raises a script error naming file:line, after a full collection has shown
// the bytes are live (the check runs in a hook, where the running function is known). A single
// allocation that would take the state past twice the limit is refused at once: Lua raises "not enough
// memory", which explain() completes with the line that was running. The worker's own allocations
// (responses, setup data, new VUs; harness_scope) are never refused: the next instruction reports them.
//
// Time: Lua code that never yields owns its worker thread: no timer, stop request or deadline of the
// event loop reaches it. A count hook installed for good would cost every Lua instruction a call (+69%
// on CPU-heavy Lua; bench/loadgen/lua_vu_benchmark.cpp), so the hook is installed on demand: the
// watchdog (watchdog_tick(), called by the coordinator thread every ~100 ms) notices a Lua run that has
// not yielded since its previous tick and sends the running thread `poke_signal()`, whose handler
// installs the hook (lua_sethook is async-signal-safe). The hook checks the run's deadline and stop
// requests, then removes itself, or stops the script for good: it yields the coroutine, which the worker
// never resumes, or, where Lua cannot yield (the script's top level, a callback inside a C function),
// raises an error at every instruction until the code has unwound (a memory error: Lua runs no xpcall
// message handler for it, and a handler called from a hook would run where no hook can stop it).
// Coroutines the script creates keep a counting hook of their own (watch_coroutine()): the watchdog
// cannot see them run.
//
// Thread-safety: one thread runs the Lua state at a time and calls everything, except request_stop(),
// clear_stop() (any thread) and watchdog_tick() (one watchdog thread at a time).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <pthread.h>

struct lua_State;
struct lua_Debug;

namespace stampede::loadgen {

enum class lua_phase : uint8_t { init, setup, iteration, teardown, quiesce, verify, summary };
std::string_view to_string(lua_phase phase) noexcept;

// Why Lua code was stopped before it finished.
enum class interruption_cause : uint8_t {
  deadline,  // its phase's timeout (an iteration: its scenario's end + gracefulStop)
  stopping,  // it did not yield while the run was stopping (a graceful stop request)
  signal,    // Ctrl-C / SIGTERM (a hard stop request)
};

// A script phase that was stopped before it finished, by the guard (code that did not yield) or by its
// worker (code waiting for a request or a timer): where, why, and how long it had run without yielding.
struct script_interruption {
  lua_phase phase = lua_phase::init;
  interruption_cause cause = interruption_cause::deadline;
  std::string where;    // "file.lua:12", the line that was running (or waiting); "" if unknown
  std::string reason;   // the whole message (describe()): "file.lua:12: setup() did not finish within ..."
  double stalled_s = 0; // 0 when it was stopped while waiting (it had yielded)
  int64_t vu = 0;       // filled in by the worker
  std::string scenario;
};

// The message of an interruption, located like a Lua error: "stuck.lua:6: the iteration was stopped: it
// ran past its scenario's end + gracefulStop (it ran 31.2 s without yielding)", "setup() was interrupted
// by a signal". The one wording for the guard and the worker.
std::string describe(lua_phase phase, interruption_cause cause, std::string_view where, double stalled_s);

class lua_guard {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr auto watchdog_period = std::chrono::milliseconds(100);
  // The hook's count in coroutines the script creates (the cost: a call per instruction there).
  static constexpr int coroutine_hook_count = 10'000;

  explicit lua_guard(size_t memory_limit);
  lua_guard(const lua_guard&) = delete;
  lua_guard& operator=(const lua_guard&) = delete;

  // The allocator for lua_newstate (ud = this guard).
  static void* allocate(void* ud, void* ptr, size_t old_size, size_t new_size) noexcept;
  // The state created with allocate().
  void attach(lua_State* L);
  // Replaces coroutine.create and coroutine.wrap by versions whose coroutines are watched.
  void wrap_coroutine_library(lua_State* L);
  void watch_coroutine(lua_State* co);

  void set_memory_limit(size_t bytes) noexcept { limit_ = bytes; }
  size_t memory_limit() const noexcept { return limit_; }
  size_t memory_used() const noexcept { return used_; }

  // Around every Lua run (a coroutine resume, the top level): the thread, its phase and its deadline.
  void enter(lua_State* running, lua_phase phase, clock::time_point deadline) noexcept;
  void leave() noexcept;

  // After a run: true when the guard stopped it; the coroutine must never be resumed again.
  bool tripped() const noexcept { return tripped_; }
  // Any thread: whether a hard stop (Ctrl-C) was requested since the last clear_stop().
  bool hard_stop_requested() const noexcept { return stop_level_.load() >= 2; }
  // Why (and resets the trip).
  script_interruption take_interruption();
  // Completes Lua's bare "not enough memory" after a refused allocation with where it happened and
  // the limit; any other message is returned unchanged.
  std::string explain(std::string_view error);

  // The worker's own allocations while one is alive are never refused (no Lua error may escape from
  // code that runs outside a protected call). Not for scopes a Lua error can leave.
  // begin/end_harness() for code a Lua error may leave (lua_guarded): enter() resets the depth.
  class harness_scope {
   public:
    explicit harness_scope(lua_guard& guard) noexcept : guard_(guard) { guard_.begin_harness(); }
    ~harness_scope() { guard_.end_harness(); }
    harness_scope(const harness_scope&) = delete;
    harness_scope& operator=(const harness_scope&) = delete;

   private:
    lua_guard& guard_;
  };

  void begin_harness() noexcept { ++harness_depth_; }
  void end_harness() noexcept {
    if (harness_depth_ > 0) --harness_depth_;
  }

  // Any thread. graceful: stop Lua code that has not yielded for a watchdog tick (it holds up the
  // stop); hard: stop any Lua code at once. Until clear_stop().
  void request_stop(bool hard) noexcept;
  void clear_stop() noexcept;
  // The watchdog thread, every ~watchdog_period: pokes a run that has not yielded since the last tick.
  void watchdog_tick() noexcept;

  // The signal that installs the hook in a running thread (a real-time signal; the handler is
  // installed once per process).
  static int poke_signal() noexcept;
  // Unblocks poke_signal() in the calling thread (an embedder may have blocked every signal before
  // starting threads); call once in each thread that runs Lua.
  static void accept_pokes() noexcept;

 private:
  static void hook(lua_State* L, lua_Debug* ar);
  static void on_poke(int) noexcept;
  void poke() noexcept;
  std::optional<interruption_cause> stop_due() const noexcept;
  void trip(lua_State* L, lua_Debug* ar, interruption_cause why);
  void stop_here(lua_State* L);
  void check_memory(lua_State* L, lua_Debug* ar);
  void note_refusal(const void* ptr, size_t size) noexcept;

  // Memory (the Lua thread).
  size_t limit_;
  size_t used_ = 0;
  int harness_depth_ = 0;
  bool over_limit_ = false;
  bool refused_ = false;
  size_t refused_size_ = 0;
  char refused_where_[128] = {};
  lua_State* main_ = nullptr;

  // The current run (the Lua thread; the signal handler reads running_ on that same thread).
  std::atomic<lua_State*> running_{nullptr};
  lua_phase phase_ = lua_phase::init;
  clock::time_point deadline_ = clock::time_point::max();
  bool tripped_ = false;
  bool failing_ = false;  // refuse the script's allocations: stop_here() unwinds without a handler
  interruption_cause tripped_by_ = interruption_cause::deadline;
  std::string tripped_where_;
  double stalled_s_ = 0;

  // Shared with the watchdog and stop requests.
  std::atomic<uint64_t> run_{0};          // generation of the current run (odd while in Lua)
  std::atomic<pthread_t> thread_{};       // the thread of the current run
  std::atomic<uint64_t> poked_run_{0};    // the run the watchdog found stalled
  std::atomic<int64_t> stalled_since_{0}; // when the watchdog first saw that run (steady ns)
  std::atomic<int> stop_level_{0};        // 0 none, 1 graceful, 2 hard
  // The watchdog's own memory (its thread only).
  uint64_t watched_run_ = 0;
  clock::time_point watched_since_{};
};

// The guard of the state `L` belongs to (the allocator's user data); find_guard: nullptr for a state
// created without one.
lua_guard& guard_of(lua_State* L) noexcept;
lua_guard* find_guard(lua_State* L) noexcept;

}  // namespace stampede::loadgen
