// Helpers for the load engine's end-to-end tests: run a scenario through loadgen::execute_run with
// the results written to a private temporary directory, capture what the run printed, and read
// the results JSON back (schema: docs/RESULTS.md).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "loadgen/run.h"
#include "tests/support/child_process.h"

namespace stampede::loadgen::test {

namespace json = boost::json;

// tests/loadgen/scenarios/<name>
inline std::string scenario(std::string_view name) {
  return std::string(STAMPEDE_LOADGEN_SCENARIOS) + "/" + std::string(name);
}

// A fresh directory under the system temp dir (tests/support's), removed with everything in it.
class temp_dir : public stampede::testing::temp_dir {
 public:
  temp_dir() : stampede::testing::temp_dir("stampede-loadgen-test") {}

  // Writes `content` to a file in this directory and returns its path.
  std::string write(std::string_view name, std::string_view content) const {
    const auto file = path() / std::string(name);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << content;
    return file.string();
  }
};

struct run_result {
  int exit_code = -1;
  json::value results;  // null when the run wrote no results (it failed before the load)
  std::string out;      // what the run printed on stdout (the summary)
  std::string err;      // and on stderr (errors, script errors in iterations)

  bool has_results() const { return results.is_object(); }
  const json::object& root() const { return results.as_object(); }
  const json::object& summary() const { return root().at("summary").as_object(); }
  int64_t summary_int(std::string_view key) const { return summary().at(key).to_number<int64_t>(); }
  double summary_p(std::string_view percentile) const {
    return summary().at("latency_ms").at(percentile).to_number<double>();
  }
  double uncorrected_p(std::string_view percentile) const {
    return summary().at("uncorrected_latency_ms").at(percentile).to_number<double>();
  }
  const json::object& scenario(size_t i = 0) const {
    return root().at("scenarios").as_array().at(i).as_object();
  }
  const json::object* scenario_named(std::string_view name) const {
    for (const auto& s : root().at("scenarios").as_array()) {
      if (s.at("name").as_string() == name) return &s.as_object();
    }
    return nullptr;
  }
  const json::object* step(std::string_view name) const {
    for (const auto& s : root().at("steps").as_array()) {
      if (s.at("name").as_string() == name) return &s.as_object();
    }
    return nullptr;
  }
  // passes and fails of a check (group "" = outside any group); nullopt when never recorded.
  std::optional<std::pair<int64_t, int64_t>> check(std::string_view name, std::string_view group = "") const {
    for (const auto& c : root().at("checks").as_array()) {
      if (c.at("name").as_string() == name && c.at("group").as_string() == group) {
        return std::pair{c.at("passes").to_number<int64_t>(), c.at("fails").to_number<int64_t>()};
      }
    }
    return std::nullopt;
  }
  // Every check recorded, name -> {passes, fails} (groups ignored).
  std::map<std::string, std::pair<int64_t, int64_t>> checks() const {
    std::map<std::string, std::pair<int64_t, int64_t>> out;
    for (const auto& c : root().at("checks").as_array()) {
      auto& entry = out[std::string(c.at("name").as_string())];
      entry.first += c.at("passes").to_number<int64_t>();
      entry.second += c.at("fails").to_number<int64_t>();
    }
    return out;
  }
  std::string failed_checks() const {
    std::string out;
    for (const auto& [name, counts] : checks()) {
      if (counts.second > 0) out += "  failed check: " + name + "\n";
    }
    return out;
  }
};

// Runs `request` with the results in `dir`, quiet, capturing stdout and stderr.
inline run_result run_scenario(run_request request, const temp_dir& dir) {
  const std::string out_path = (dir.path() / "results.json").string();
  std::filesystem::remove(out_path);
  request.out_path = out_path;
  request.quiet = true;
  run_result r;
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  r.exit_code = execute_run(request);
  r.err = ::testing::internal::GetCapturedStderr();
  r.out = ::testing::internal::GetCapturedStdout();
  std::ifstream in(out_path, std::ios::binary);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    r.results = json::parse(text.str(), ec);
    if (ec) ADD_FAILURE() << "results JSON does not parse: " << ec.message();
  }
  return r;
}

// A request for a scenario file against a target, one thread, seed 1.
inline run_request make_request(const std::string& script, const std::string& target,
                                std::map<std::string, std::string> env = {}) {
  run_request request;
  request.script_path = script;
  if (!target.empty()) request.overrides.target = target;
  request.env = std::move(env);
  request.threads = 1;
  return request;
}

// A TCP port on 127.0.0.1 that nothing listens on (bound once, then released).
inline uint16_t closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

}  // namespace stampede::loadgen::test
