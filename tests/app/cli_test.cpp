// Every subcommand of the real `stampede` binary on the one command-line layer (common/cli_args.h): a
// misspelt flag exits 2 with one line naming it and the closest valid flag, and `--flag=value` is read
// like `--flag value`.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct output {
  std::string text;  // stdout and stderr
  int code = -1;
};

std::string quote(const std::string& word) { return "'" + word + "'"; }

output stampede(const std::vector<std::string>& args) {
  std::string command = STAMPEDE_BINARY;
  for (const auto& a : args) command += " " + quote(a);
  command += " 2>&1 </dev/null";
  output out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.text.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  out.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

bool has_command(const std::string& name) {
  static const std::string listing = stampede({"--help"}).text;
  return listing.find("\n  " + name + " ") != std::string::npos;
}

class stampede_cli : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stampede-cli-test-" + std::to_string(::getpid()) + "-" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    scenario_ = (dir_ / "nothing.lua").string();
    std::ofstream(scenario_) << "function default() end\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A results file of a real run (1 iteration of a scenario that sends nothing), written with --out=FILE.
  std::string results() {
    const std::string path = (dir_ / "results.json").string();
    const auto r = stampede({"run", scenario_, "--iterations=1", "--vus=1", "--threads=1", "--seed=7", "-q",
                             "--out=" + path});
    EXPECT_EQ(r.code, 0) << r.text;
    EXPECT_TRUE(fs::exists(path)) << r.text;
    return path;
  }

  fs::path dir_;
  std::string scenario_;
};

// One line: "stampede SUB: unknown flag 'BAD' (did you mean 'GOOD'?)", exit 2.
void expect_bad_flag(const std::vector<std::string>& args, const std::string& bad, const std::string& good) {
  const auto r = stampede(args);
  EXPECT_EQ(r.code, 2) << r.text;
  EXPECT_EQ(r.text, "stampede " + args[0] + ": unknown flag '" + bad + "' (did you mean '" + good + "'?)\n");
}

TEST_F(stampede_cli, a_misspelt_flag_is_named_with_a_hint_by_every_subcommand) {
  const std::vector<std::vector<std::string>> cases{
      {"run", scenario_, "--treads", "2", "--threads"},
      {"drill", scenario_, "--nodez", "2", "--nodes"},
      {"capacity", scenario_, "--headrom=0.1", "--headroom"},
      {"report", "r.json", "--fromat", "md", "--format"},
      {"compare", "a.json", "b.json", "--budgt", "p99:+1%", "--budget"},
      {"merge", "a.json", "--forc", "--force"},
      {"proxy", "--listn", "127.0.0.1:0", "--listen"},
      {"shop", "--nodez", "2", "--nodes"},
      {"shop-node", "--kdf-worker", "2", "--kdf-workers"},
      {"payment-emulator", "--failure-rat", "0.5", "--failure-rate"},
      {"coordinate", scenario_, "--shard", "2", "--shards"},
      {"agent", "--coordinatr", "http://127.0.0.1:1", "--coordinator"},
  };
  for (auto words : cases) {
    if (!has_command(words[0])) continue;
    const std::string good = words.back();
    words.pop_back();
    std::string bad;
    for (const auto& w : words) {
      if (w.rfind("--", 0) == 0) bad = w.substr(0, w.find('='));
    }
    SCOPED_TRACE(words[0]);
    expect_bad_flag(words, bad, good);
  }
}

TEST_F(stampede_cli, every_subcommand_prints_help_from_its_table) {
  for (const char* sub : {"run", "drill", "capacity", "report", "compare", "merge", "proxy", "shop", "shop-node",
                          "payment-emulator", "coordinate", "agent"}) {
    if (!has_command(sub)) continue;
    const auto r = stampede({sub, "--help"});
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_EQ(r.text.rfind(std::string("usage: stampede ") + sub + " ", 0), 0u) << r.text;
    EXPECT_NE(r.text.find("\nflags:\n"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("\n  -h, --help "), std::string::npos) << r.text;
  }
}

TEST_F(stampede_cli, run_report_compare_and_merge_read_flag_equals_value) {
  if (!has_command("run") || !has_command("report")) GTEST_SKIP() << "built without loadgen or reports";
  const std::string in = results();
  const std::string md = (dir_ / "report.md").string();
  auto r = stampede({"report", in, "--format=md", "--output=" + md});
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_TRUE(fs::exists(md));
  const std::string cmp = (dir_ / "compare.xml").string();
  r = stampede({"compare", in, in, "--budget=p99:+10%", "--format=junit", "--output=" + cmp});
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_TRUE(fs::exists(cmp));
  const std::string merged = (dir_ / "merged.json").string();
  r = stampede({"merge", in, "--output=" + merged});
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_TRUE(fs::exists(merged));
}

TEST_F(stampede_cli, shop_seed_reads_flag_equals_value) {
  if (!has_command("shop")) GTEST_SKIP() << "built without the shop";
  const auto r = stampede({"shop", "seed", "--data=" + (dir_ / "data").string(), "--scale=1", "--kdf=minimal"});
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_TRUE(fs::exists(dir_ / "data" / "shop.db")) << r.text;
}

// Subcommands that would start long-lived work: the value of --flag=value reaches their checks, which
// name the flag (exit 2 before anything starts), exactly as with --flag value.
TEST_F(stampede_cli, flag_equals_value_reaches_the_checks_of_the_servers_and_drills) {
  const std::vector<std::vector<std::string>> cases{
      {"drill", scenario_, "--threads=300", "--threads: expected a whole number in [1, 256], got '300'"},
      {"capacity", scenario_, "--headroom=1", "--headroom: a fraction below 1"},
      {"proxy", "--threads=0", "--threads must be 1..64, got '0'"},
      {"shop", "--db=mysql", "--db must be sqlite or postgres"},
      {"shop-node", "--db=x.db", "--kdf=cheap", "--kdf must be interactive, moderate or minimal"},
      {"payment-emulator", "--failure-rate=2", "--failure-rate: expected a number in [0, 1], got '2'"},
  };
  for (auto words : cases) {
    if (!has_command(words[0])) continue;
    const std::string expected = words.back();
    words.pop_back();
    SCOPED_TRACE(words[0]);
    for (bool equals : {true, false}) {
      std::vector<std::string> args;
      for (const auto& w : words) {
        const size_t eq = w.find('=');
        if (!equals && w.rfind("--", 0) == 0 && eq != std::string::npos) {
          args.push_back(w.substr(0, eq));
          args.push_back(w.substr(eq + 1));
        } else {
          args.push_back(w);
        }
      }
      const auto r = stampede(args);
      EXPECT_EQ(r.code, 2) << r.text;
      EXPECT_EQ(r.text.rfind("stampede " + words[0] + ": " + expected, 0), 0u) << r.text;
      EXPECT_EQ(std::count(r.text.begin(), r.text.end(), '\n'), 1) << r.text;
    }
  }
}

}  // namespace
