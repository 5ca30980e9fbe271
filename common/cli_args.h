// The one command-line layer of every subcommand: a table of flags per command, parsed the same way
// everywhere and printed as the same `--help`.
//
// - `--flag value` and `--flag=value` for long names; `-x value` for short aliases (never `-x=value`,
//   so that `-e KEY=VAL` keeps its '='). A value flag takes the next word even if it starts with '-'.
// - A flag given twice: the last value wins, unless it is `repeatable` (then every value is kept).
// - `--` ends the flags: every later word is positional. "-" alone is positional (stdin/stdout).
// - `-h`/`--help` is in every table; parsing stops there.
// - Errors are cli::usage_error with one line naming the flag: "unknown flag '--treads' (did you mean
//   '--threads'?)", "--threads: needs a value", "--nodes: expected a whole number in [1, 64], got 'x'".
//   Commands print them with usage_failure() and exit with exit_usage.
//
// A new subcommand declares its flags in a `cli::command` table (STYLE.md); the shared flags (-e,
// --threads, --seed, --out) come from the functions below so that their names, aliases and values are
// declared once.
//
// Thread-safety: pure functions and value types.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace stampede::cli {

// Exit codes every subcommand shares; component-specific codes (99 thresholds, 3 input, ...) live with
// their component and are documented in README.md, "Exit codes".
inline constexpr int exit_ok = 0;
inline constexpr int exit_usage = 2;

struct flag {
  std::string_view name;        // the long name with its dashes: "--threads"
  std::string_view alias = {};  // a short alias, "-t", or none
  std::string_view value = {};  // what the value is, for --help ("N", "FILE"); empty for a switch
  std::string_view help = {};   // one line or several ('\n'); printed after the flag in --help
  bool repeatable = false;      // every value is kept (values()); otherwise the last one wins

  bool takes_value() const { return !value.empty(); }
};

// The shared flags: the same name, alias and value wherever a command has them; `help` says what they
// mean there (their defaults differ).
flag env_flag();                                              // -e, --env KEY=VAL (repeatable)
flag threads_flag(std::string_view help);                     // -t, --threads N
flag seed_flag(std::string_view help);                        // --seed N
flag out_flag(std::string_view value, std::string_view help);  // -o, --out FILE|DIR

// A subcommand's table. `--help` is generated from it: "usage: <name> <synopsis>", the description,
// the flags, the notes.
struct command {
  std::string_view name;         // as typed, with the program: "stampede run"
  std::string_view synopsis;     // after the name; more lines are more usages ("\n" then the arguments)
  std::string_view description;  // what the command does (may be empty)
  std::vector<flag> flags;       // without --help (every command has it)
  std::string_view notes;        // after the flags: exit codes, environment (may be empty)
};

struct usage_error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// What a command line said, by flag name (with or without its leading dashes: "--nodes" or "nodes").
class parsed_args {
 public:
  bool help() const { return help_; }
  bool has(std::string_view name) const;
  // The last value of a value flag ("1" for a switch that was given), or `fallback`.
  std::string get(std::string_view name, std::string fallback = {}) const;
  std::optional<std::string> value(std::string_view name) const;
  // Every value of a (repeatable) flag, in command-line order; empty when it was not given.
  std::vector<std::string> values(std::string_view name) const;
  // The value as a whole number / number in [min, max], or `fallback` when the flag was not given.
  // Throws usage_error naming the flag otherwise.
  int64_t get_int(std::string_view name, int64_t fallback, int64_t min, int64_t max) const;
  double get_double(std::string_view name, double fallback, double min, double max) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend parsed_args parse(const command& spec, std::span<char* const> args);
  static std::string key(std::string_view name);
  std::map<std::string, std::vector<std::string>, std::less<>> values_;  // by long name without dashes
  std::vector<std::string> positional_;
  bool help_ = false;
};

// Parses args (args[0] is the subcommand's name, skipped). Throws usage_error.
parsed_args parse(const command& spec, std::span<char* const> args);

// The --help text of a command.
std::string help_text(const command& spec);

// Prints "<name>: <message>" on stderr (one line) and returns exit_usage.
int usage_failure(const command& spec, std::string_view message);

// Helpers for checks of values that the table's types do not cover; they throw usage_error naming the flag.
// A whole number in [min, max] from text (`flag` names it in the message).
int64_t to_int(std::string_view flag, std::string_view text, int64_t min, int64_t max);
double to_double(std::string_view flag, std::string_view text, double min, double max);

}  // namespace stampede::cli
