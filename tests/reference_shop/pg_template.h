// One initdb per build tree for the PostgreSQL tests: the first test that needs a cluster makes a template
// (initdb --no-sync through the shop's postgres_server, the same options as every test server) and every
// test server starts from a copy of it (`cp -a`: modes and the postgres user's ownership kept), which
// postgres_server::init() finds in place and does not initdb again. A copy takes 0.2-0.3 s, initdb 0.5-1.4 s.
//
// The template lives in the build tree (STAMPEDE_PG_TEMPLATE_DIR, <build>/pg-template: the postgres/
// directory of a server that was never started: data/, superuser.password, initdb.log). It is made aside
// and renamed into place, so parallel test processes (ctest -j) see either no template or a whole one; when
// two make it at once, the first rename wins and the other's copy is removed. initdb itself runs in a
// temporary directory under $TMPDIR, where the test servers run, because the postgres user may not be able
// to enter the build tree (a home directory of mode 0700); the build tree only holds the copy. Every test
// cluster shares the template's superuser password and system identifier; they are independent clusters
// all the same (nothing replicates between test servers). Remove <build>/pg-template after upgrading
// PostgreSQL.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "reference_shop/postgres_server.h"
#include "tests/support/child_process.h"

#ifndef STAMPEDE_PG_TEMPLATE_DIR
#error \
    "link the test with stampede::pg_test_template (tests/CMakeLists.txt), which defines STAMPEDE_PG_TEMPLATE_DIR"
#endif

namespace stampede::shop::testing {

namespace pg_template_detail {

// `cp -a from to` (to must not exist), bounded; std::runtime_error with cp's own message.
inline void copy_tree(const std::filesystem::path& from, const std::filesystem::path& to,
                      const std::filesystem::path& log) {
  const int code = ::stampede::testing::run_bounded({"/bin/cp", "-a", from.string(), to.string()}, log,
                                                    std::chrono::seconds{60});
  if (code != 0) {
    throw std::runtime_error("cp -a " + from.string() + " " + to.string() + " failed (" +
                             std::to_string(code) + "): " + ::stampede::testing::read_text(log));
  }
}

}  // namespace pg_template_detail

// The template's postgres/ directory, made by the first caller in this build tree.
inline std::filesystem::path pg_template_cluster() {
  namespace fs = std::filesystem;
  const fs::path root{STAMPEDE_PG_TEMPLATE_DIR};
  const fs::path cluster = root / "postgres";
  if (fs::exists(cluster / "data" / "PG_VERSION") && fs::exists(cluster / "superuser.password")) {
    return cluster;
  }
  fs::create_directories(root.parent_path());
  ::stampede::testing::temp_dir scratch{"stampede-pg-template"};
  postgres_server_options o;
  o.dir = scratch.path() / "postgres";
  o.sync_initdb = false;  // throwaway test clusters, as before
  postgres_server{o}.init();
  // Beside its final place (the same file system, so that rename is atomic), then renamed into place.
  std::string aside = (root.parent_path() / "pg-template.XXXXXX").string();
  if (::mkdtemp(aside.data()) == nullptr) {
    throw std::runtime_error("cannot make " + aside + ": " + std::strerror(errno));
  }
  std::error_code ec;
  try {
    pg_template_detail::copy_tree(o.dir, fs::path{aside} / "postgres", scratch.path() / "cp.log");
  } catch (...) {
    fs::remove_all(aside, ec);
    throw;
  }
  if (::rename(aside.c_str(), root.c_str()) != 0) {
    const int error = errno;
    fs::remove_all(aside, ec);
    // Another test process renamed its template into place first: use that one.
    if ((error != EEXIST && error != ENOTEMPTY) || !fs::exists(cluster / "superuser.password")) {
      throw std::runtime_error("cannot rename " + aside + " to " + root.string() + ": " +
                               std::strerror(error));
    }
  }
  return cluster;
}

// Makes `dir` (which must not exist) a new cluster of its own: a copy of the template, for
// postgres_server_options::dir. postgres_server::init() then finds the cluster and skips initdb.
inline void copy_pg_template(const std::filesystem::path& dir) {
  pg_template_detail::copy_tree(pg_template_cluster(), dir, dir.parent_path() / "pg-template-copy.log");
}

}  // namespace stampede::shop::testing
