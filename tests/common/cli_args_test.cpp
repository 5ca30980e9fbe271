// The one command-line layer (common/cli_args.h): both value forms, aliases, repeated flags, `--`,
// missing and malformed values, unknown flags with the closest name, and the generated --help.
#include "common/cli_args.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace {

using stampede::cli::command;
using stampede::cli::parse;
using stampede::cli::parsed_args;
using stampede::cli::usage_error;

const command spec{"stampede demo",
                   "SCENARIO.lua [flags]\nseed [flags]",
                   "A command to test the parser.",
                   {stampede::cli::env_flag(),
                    stampede::cli::threads_flag("worker threads (default 1)"),
                    stampede::cli::seed_flag("seed (default 1)"),
                    stampede::cli::out_flag("FILE", "results JSON"),
                    {"--duration", "-d", "D", "test duration\nsecond line of help"},
                    {"--rate", {}, "R", "iterations per second"},
                    {"--quiet", "-q", {}, "no progress"}},
                   "Exit: 0 ok, 2 usage."};

// argv as main() gets it: args[0] is the subcommand.
struct argv {
  std::vector<std::string> words;
  std::vector<char*> pointers;
  argv(std::initializer_list<const char*> list) : words{"demo"} {
    for (const char* w : list) words.emplace_back(w);
    for (auto& w : words) pointers.push_back(w.data());
  }
};

parsed_args parse_words(std::initializer_list<const char*> list) {
  argv a(list);
  return parse(spec, a.pointers);
}

std::string error_of(std::initializer_list<const char*> list) {
  try {
    parse_words(list);
  } catch (const usage_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(cli_args, both_value_forms_and_aliases_give_the_same_values) {
  for (const auto& a : {parse_words({"s.lua", "--threads", "4", "--out", "r.json", "--duration", "5s"}),
                        parse_words({"s.lua", "--threads=4", "--out=r.json", "--duration=5s"}),
                        parse_words({"s.lua", "-t", "4", "-o", "r.json", "-d", "5s"})}) {
    EXPECT_EQ(a.get_int("--threads", 1, 1, 256), 4);
    EXPECT_EQ(a.get_int("threads", 1, 1, 256), 4);  // with or without the dashes
    EXPECT_EQ(a.get("--out"), "r.json");
    EXPECT_EQ(a.get("--duration"), "5s");
    ASSERT_EQ(a.positional().size(), 1u);
    EXPECT_EQ(a.positional()[0], "s.lua");
    EXPECT_FALSE(a.has("--quiet"));
    EXPECT_FALSE(a.help());
  }
}

TEST(cli_args, an_absent_flag_gives_the_fallback_and_a_switch_reads_as_given) {
  const auto a = parse_words({"-q"});
  EXPECT_TRUE(a.has("--quiet"));
  EXPECT_FALSE(a.has("--rate"));
  EXPECT_EQ(a.get("--rate", "10"), "10");
  EXPECT_EQ(a.get_int("--threads", 7, 1, 256), 7);
  EXPECT_DOUBLE_EQ(a.get_double("--rate", 2.5, 0, 100), 2.5);
  EXPECT_FALSE(a.value("--out").has_value());
  EXPECT_TRUE(a.positional().empty());
}

TEST(cli_args, repeatable_flags_keep_every_value_and_others_keep_the_last) {
  const auto a = parse_words({"-e", "A=1", "--env", "B=2=3", "--env=C=", "--seed", "1", "--seed=9"});
  EXPECT_EQ(a.values("--env"), (std::vector<std::string>{"A=1", "B=2=3", "C="}));  // '=' stays in -e's value
  EXPECT_EQ(a.get("--seed"), "9");
  EXPECT_EQ(a.values("--seed"), (std::vector<std::string>{"9"}));
}

TEST(cli_args, a_value_may_start_with_a_dash_and_dash_alone_is_positional) {
  const auto a = parse_words({"--out", "-", "-", "--rate", "-1"});
  EXPECT_EQ(a.get("--out"), "-");
  EXPECT_EQ(a.get("--rate"), "-1");
  EXPECT_EQ(a.positional(), (std::vector<std::string>{"-"}));
}

TEST(cli_args, double_dash_ends_the_flags) {
  const auto a = parse_words({"-q", "--", "--threads", "-x", "file"});
  EXPECT_TRUE(a.has("--quiet"));
  EXPECT_FALSE(a.has("--threads"));
  EXPECT_EQ(a.positional(), (std::vector<std::string>{"--threads", "-x", "file"}));
}

TEST(cli_args, help_stops_parsing_even_before_a_bad_flag) {
  EXPECT_TRUE(parse_words({"--help", "--bogus"}).help());
  EXPECT_TRUE(parse_words({"s.lua", "-h"}).help());
}

TEST(cli_args, an_unknown_flag_is_named_with_the_closest_valid_flag) {
  EXPECT_EQ(error_of({"--treads", "2"}), "unknown flag '--treads' (did you mean '--threads'?)");
  EXPECT_EQ(error_of({"--duraton=5s"}), "unknown flag '--duraton' (did you mean '--duration'?)");
  EXPECT_EQ(error_of({"--zzzzzzzz"}), "unknown flag '--zzzzzzzz'");  // nothing close: no hint
  EXPECT_EQ(error_of({"-x"}), "unknown flag '-x' (did you mean '-e'?)");
  EXPECT_EQ(error_of({"-e=A=1"}), "unknown flag '-e=A=1'");  // short aliases take the next word only
}

TEST(cli_args, a_missing_value_names_the_flag) {
  EXPECT_EQ(error_of({"s.lua", "--threads"}), "--threads: needs a value (N)");
  EXPECT_EQ(error_of({"s.lua", "-o"}), "-o: needs a value (FILE)");
  EXPECT_EQ(error_of({"--quiet=yes"}), "--quiet: takes no value");
}

TEST(cli_args, numbers_out_of_range_or_malformed_name_the_flag) {
  auto int_error = [](std::initializer_list<const char*> words, int64_t min, int64_t max) -> std::string {
    try {
      parse_words(words).get_int("--threads", 1, min, max);
    } catch (const usage_error& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(int_error({"--threads=0"}, 1, 256), "--threads: expected a whole number in [1, 256], got '0'");
  EXPECT_EQ(int_error({"--threads", "257"}, 1, 256), "--threads: expected a whole number in [1, 256], got '257'");
  EXPECT_EQ(int_error({"--threads", "4x"}, 1, 256), "--threads: expected a whole number in [1, 256], got '4x'");
  EXPECT_EQ(int_error({"--threads", "99999999999999999999"}, 1, INT64_MAX),
            "--threads: expected a whole number >= 1, got '99999999999999999999'");
  EXPECT_EQ(int_error({"--threads", "256"}, 1, 256), "(no error)");
  try {
    parse_words({"--rate", "1.5e"}).get_double("--rate", 1, 0, 1);
    FAIL() << "no error";
  } catch (const usage_error& e) {
    EXPECT_STREQ(e.what(), "--rate: expected a number in [0, 1], got '1.5e'");
  }
  EXPECT_DOUBLE_EQ(parse_words({"--rate=0.25"}).get_double("--rate", 1, 0, 1), 0.25);
}

TEST(cli_args, help_is_generated_from_the_table) {
  const std::string help = stampede::cli::help_text(spec);
  EXPECT_EQ(help.rfind("usage: stampede demo SCENARIO.lua [flags]\n       stampede demo seed [flags]\n\n"
                       "A command to test the parser.\n\nflags:\n",
                       0),
            0u)
      << help;
  EXPECT_NE(help.find("\n  -e, --env KEY=VAL  value for env.KEY in the script (repeatable)\n"), std::string::npos)
      << help;
  EXPECT_NE(help.find("\n      --rate R       iterations per second\n"), std::string::npos) << help;
  EXPECT_NE(help.find("\n  -d, --duration D   test duration\n                     second line of help\n"),
            std::string::npos)
      << help;
  EXPECT_NE(help.find("\n  -h, --help         this text\n"), std::string::npos) << help;
  EXPECT_EQ(help.substr(help.size() - 22), "\nExit: 0 ok, 2 usage.\n") << help;
}

TEST(cli_args, usage_failure_is_one_line_and_exit_2) {
  testing::internal::CaptureStderr();
  const int code = stampede::cli::usage_failure(spec, "unknown flag '--x'");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "stampede demo: unknown flag '--x'\n");
  EXPECT_EQ(code, 2);
  EXPECT_EQ(stampede::cli::exit_usage, 2);
}

}  // namespace
