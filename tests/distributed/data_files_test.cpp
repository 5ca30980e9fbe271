// The data files of a distributed run: the coordinator's list (inside the scenario's folder, bounded) and the
// agent's writing of them (no path leaves its directory; bad content and too much of it are refused, naming
// the entry).
#include "distributed/data_files.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>

#include "tests/support/child_process.h"

namespace stampede::distributed {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using testing::read_text;

std::string error_of(const auto& call) {
  try {
    call();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(data_files, the_coordinator_s_files_are_written_by_the_agent_at_the_same_relative_paths) {
  testing::temp_dir from{"stampede-data-from"}, to{"stampede-data-to"};
  const fs::path folder = fs::canonical(from.path());
  fs::create_directories(folder / "data");
  { std::ofstream(folder / "data" / "users.csv", std::ios::binary) << "name\nann\nbob\n"; }
  { std::ofstream(folder / "blob.bin", std::ios::binary) << std::string("\0\xff\x01 binary", 10); }
  const json::array files =
      data_files_json({(folder / "data" / "users.csv").string(), (folder / "blob.bin").string()}, folder);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].at("path").as_string(), "data/users.csv");
  // Through text, as on the wire.
  write_data_files(json::parse(json::serialize(files)), to.path());
  EXPECT_EQ(read_text(to.path() / "data" / "users.csv"), "name\nann\nbob\n");
  EXPECT_EQ(read_text(to.path() / "blob.bin"), std::string("\0\xff\x01 binary", 10));
}

TEST(data_files, the_coordinator_refuses_files_outside_the_folder_and_too_many_bytes) {
  testing::temp_dir from{"stampede-data-from"};
  const fs::path folder = fs::canonical(from.path()) / "scenario";
  fs::create_directories(folder);
  { std::ofstream(from.path() / "secret.txt") << "outside"; }
  { std::ofstream(folder / "big.txt") << std::string(1000, 'x'); }
  EXPECT_NE(error_of([&] {
              data_files_json({(fs::canonical(from.path()) / "secret.txt").string()}, folder);
            }).find("is outside the scenario's folder"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { data_files_json({(folder / "big.txt").string()}, folder, 999); }),
            "the scenario's data files take 1000 bytes, more than the 999 bytes a distributed run sends its "
            "agents (at '" +
                (folder / "big.txt").string() + "')");
  EXPECT_EQ(data_files_json({(folder / "big.txt").string()}, folder, 1000).size(), 1u);
}

TEST(data_files, the_agent_refuses_paths_that_leave_its_directory) {
  testing::temp_dir to{"stampede-data-to"};
  const fs::path dir = to.path() / "agent";
  fs::create_directories(dir);
  const auto plan = [](std::string path, std::string content = "eA==") {
    return json::value(json::array{json::object{{"path", path}, {"content", content}}});
  };
  for (const char* bad : {"../escaped.txt", "/tmp/absolute.txt", "data/../../escaped.txt", ""}) {
    EXPECT_NE(error_of([&] { write_data_files(plan(bad), dir); }).find("plan.files[0].path"),
              std::string::npos)
        << bad;
  }
  EXPECT_FALSE(fs::exists(to.path() / "escaped.txt"));
  EXPECT_EQ(error_of([&] { write_data_files(plan("ok.txt", "not base64!"), dir); }),
            "plan.files[0].content: not base64");
  EXPECT_NE(
      error_of([&] { write_data_files(plan("ok.txt", "eHh4eA=="), dir, 3); }).find("more than the 3 bytes"),
      std::string::npos);
  EXPECT_EQ(error_of([&] { write_data_files(json::value(json::array{3}), dir); }),
            "plan.files[0]: expected {\"path\", \"content\"} strings");
  EXPECT_EQ(error_of([&] { write_data_files(plan("a/b/ok.txt"), dir); }), "(no error)");
  EXPECT_EQ(read_text(dir / "a" / "b" / "ok.txt"), "x");
}

}  // namespace
}  // namespace stampede::distributed
