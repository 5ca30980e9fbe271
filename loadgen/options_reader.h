// Reads the scenario's `options` table (k6 names) into run_options. Strict: an unknown key, a
// wrong type or a bad value throws std::invalid_argument naming the option's full path.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "loadgen/options.h"

struct lua_State;

namespace stampede::loadgen {

// Overrides from the command line; any of vus/duration/rate/iterations replaces the scenarios by
// one scenario named "default" (as k6 does with --vus/--duration).
struct option_overrides {
  std::optional<std::string> target;
  std::optional<int64_t> vus;
  std::optional<nanos> duration;
  std::optional<double> rate;          // iterations per second: a constant-arrival-rate scenario
  std::optional<int64_t> iterations;
  // Applies to the scenarios the flags create (not a flag of `stampede run`: `stampede capacity` ends a
  // failing stage soon after its planned end instead of waiting k6's 30 s for requests stuck at the target).
  std::optional<nanos> graceful_stop;
};

// Also checks that every scenario's `exec` is a function of the script. The metamethods of a table with a
// metatable run protected: an error there throws std::invalid_argument with the script's file:line. Code
// that never returns is the caller's to bound (worker::read_options).
run_options read_run_options(lua_State* L, const option_overrides& overrides);

// A size in bytes: a whole number, or a string such as "512KB", "10MB", "1.5GB" (units of 1024; KiB,
// MiB and GiB are accepted too). nullopt when malformed or above 2^50.
std::optional<size_t> parse_byte_size(std::string_view text);

// Reads one fault table at `index` ({ at=, duration=, fault=, target=, label=, stream=, toxicity=,
// restart=, ...toxic attributes }). `path` prefixes error messages. Throws std::invalid_argument.
fault_spec read_fault(lua_State* L, int index, const std::string& path);

}  // namespace stampede::loadgen
