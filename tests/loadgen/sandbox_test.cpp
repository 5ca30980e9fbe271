// The Lua sandbox (loadgen/lua_sandbox.h): scenarios from untrusted branches get no processes, no
// native code, no file writes, no environment and no debug library, read files in their own folder only
// and load text chunks only; each refusal is a clear error, and --unsafe-lua restores all of it. Every
// shipped scenario still loads in the sandbox.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "loadgen/cli.h"
#include "loadgen/options_reader.h"
#include "loadgen/run.h"
#include "loadgen/worker.h"
#include "tests/loadgen/run_support.h"

namespace stampede::loadgen {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using test::make_request;
using test::run_result;
using test::run_scenario;
using test::temp_dir;

// Probes run at the top level (where open() is available) and are turned into one check each in the
// single iteration: the check passes when the probe failed with the expected words (sandbox) or
// worked (UNSAFE). A failing check is named, and its error printed.
constexpr const char* probes = R"lua(
local unsafe = env.UNSAFE == "1"
local results = {}
local function probe(name, expected, fn)
  local ok, err = pcall(fn)
  local passed
  if unsafe then passed = ok else passed = not ok and tostring(err):find(expected, 1, true) ~= nil end
  if not passed then io.stderr:write("probe ", name, ": ", tostring(ok), " ", tostring(err), "\n") end
  results[name] = passed
end
local function must(v, err) if v == nil then error(err, 0) end return v end

probe("os.execute", "os.execute is not available to scenarios (no processes)", function() return os.execute("true") end)
probe("io.popen", "io.popen is not available", function() must(io.popen("echo hi")):close() end)
probe("os.exit", "os.exit is not available", function() if unsafe then return end os.exit(3) end)
probe("os.getenv", "os.getenv is not available", function() return must(os.getenv("PATH"), "no PATH") end)
probe("os.remove", "os.remove is not available", function()
  if unsafe then must(io.open(env.DIR .. "/victim.txt", "w")):close() end
  return must(os.remove(env.DIR .. "/victim.txt"))
end)
probe("os.rename", "os.rename is not available", function() return must(os.rename(env.DIR .. "/data.txt", env.DIR .. "/data.txt")) end)
probe("os.tmpname", "os.tmpname is not available", function() return os.tmpname() end)
probe("io.tmpfile", "io.tmpfile is not available", function() return must(io.tmpfile()) end)
probe("io.output", "io.output is not available", function() return io.output(io.stdout) end)
probe("io.read", "io.read is not available", function() if unsafe then return end return io.read(0) end)
probe("io.lines stdin", "a file name is required", function() if unsafe then return end for _ in io.lines() do end end)
probe("io.open write", "mode 'w' writes", function() must(io.open(env.DIR .. "/written.txt", "w")):close() end)
probe("io.open append", "mode 'a' writes", function() must(io.open(env.DIR .. "/data.txt", "a")):close() end)
probe("io.open update", "mode 'r+' writes", function() must(io.open(env.DIR .. "/data.txt", "r+")):close() end)
probe("io.open outside", "is outside the scenario's folder", function() must(io.open(env.OUTSIDE)):close() end)
probe("io.lines outside", "is outside the scenario's folder", function() for _ in io.lines(env.OUTSIDE) do end end)
probe("open outside", "is outside the scenario's folder", function() return open(env.OUTSIDE) end)
probe("open dot-dot", "is outside the scenario's folder", function() return open("../outside/secret.txt") end)
probe("open symlink", "is outside the scenario's folder", function() return open("link.txt") end)
probe("loadfile outside", "is outside the scenario's folder", function() return must(loadfile(env.OUTSIDE)) end)
probe("dofile outside", "is outside the scenario's folder", function() return dofile(env.OUTSIDE) end)
probe("package.loadlib", "package.loadlib is not available to scenarios (no native code)", function()
  return must(package.loadlib("libc.so.6", "*"))
end)
probe("C module", "native code is not available", function()
  package.cpath = env.DIR .. "/?.so;" .. package.cpath
  return require("native")
end)
probe("require outside", "is outside the scenario's folder and the module path", function()
  local saved = package.path
  package.path = env.OUTSIDE_DIR .. "/?.txt;" .. saved
  local ok, mod = pcall(require, "secret")
  package.path = saved
  if not ok then error(mod, 0) end
  return mod
end)
probe("debug.getinfo", "debug.getinfo is not available", function() return must(debug.getinfo(1).currentline) end)
probe("debug.sethook", "debug.sethook is not available", function() debug.sethook() end)
probe("load binary", "binary chunks are not allowed", function() return must(load(string.dump(function() end), "b", "b")) end)
probe("load binary default mode", "attempt to load a binary chunk", function()
  return must(load(string.dump(function() end)))
end)
probe("__gc", "__gc finalizers are not available", function() return setmetatable({}, { __gc = function() end }) end)

-- What scenarios need keeps working in both modes.
local kept = {
  open = open("data.txt") == "data\n",
  io_open = (function() local f = io.open(env.DIR .. "/data.txt") local t = f:read("a") f:close() return t == "data\n" end)(),
  io_lines = (function() for l in io.lines(env.DIR .. "/data.txt") do return l == "data" end end)(),
  dofile = dofile(env.DIR .. "/helper.lua").answer == 42,
  loadfile = loadfile(env.DIR .. "/helper.lua")().answer == 42,
  require = require("helper").answer == 42,
  load_text = load("return 1 + 1")() == 2,
  load_env = load("return x", "chunk", "t", { x = 5 })() == 5,
  traceback = type(debug.traceback("x")) == "string",
  time = os.time() > 0 and os.clock() >= 0 and type(os.date("!%Y")) == "string",
  metatable = getmetatable(setmetatable({}, { __index = {} })) ~= nil,
  coroutine = coroutine.wrap(function() coroutine.yield(7) end)() == 7,
}

options = { iterations = 1 }
function default()
  for name, passed in pairs(results) do check(passed, { [name] = function(p) return p end }) end
  for name, works in pairs(kept) do check(works, { ["kept: " .. name] = function(p) return p end }) end
end
)lua";

constexpr size_t probe_count = 29;
constexpr size_t kept_count = 12;

class sandbox : public ::testing::Test {
 protected:
  sandbox() {
    const fs::path folder = dir_.path() / "scenario";
    const fs::path outside = dir_.path() / "outside";
    fs::create_directories(folder);
    fs::create_directories(outside);
    std::ofstream(outside / "secret.txt") << "return 'secret'\n";
    std::ofstream(folder / "data.txt") << "data\n";
    std::ofstream(folder / "helper.lua") << "return { answer = 42 }\n";
    std::ofstream(folder / "native.so") << "not really a library\n";
    fs::create_symlink(outside / "secret.txt", folder / "link.txt");
    std::ofstream(folder / "probes.lua") << probes;
    script_ = (folder / "probes.lua").string();
    env_ = {{"DIR", folder.string()},
            {"OUTSIDE", (outside / "secret.txt").string()},
            {"OUTSIDE_DIR", outside.string()}};
  }

  temp_dir dir_;
  std::string script_;
  std::map<std::string, std::string> env_;
};

TEST_F(sandbox, every_removed_capability_fails_with_a_clear_error) {
  const run_result r = run_scenario(make_request(script_, "", env_), dir_);
  ASSERT_EQ(r.exit_code, exit_ok) << r.err;
  EXPECT_EQ(r.failed_checks(), "") << r.err;
  EXPECT_EQ(r.checks().size(), probe_count + kept_count) << r.err;
  EXPECT_FALSE(fs::exists(dir_.path() / "scenario" / "written.txt"));
  EXPECT_TRUE(fs::exists(dir_.path() / "scenario" / "data.txt"));
}

TEST_F(sandbox, unsafe_lua_restores_the_whole_standard_library) {
  run_request request = make_request(script_, "", env_);
  request.env["UNSAFE"] = "1";
  request.unsafe_lua = true;
  const run_result r = run_scenario(request, dir_);
  ASSERT_EQ(r.exit_code, exit_ok) << r.err;
  // Restored, except what cannot work here: no C module is really built, so that probe fails either way.
  const auto checks = r.checks();
  EXPECT_EQ(checks.size(), probe_count + kept_count) << r.err;
  for (const auto& [name, counts] : checks) {
    if (name == "C module") continue;
    EXPECT_EQ(counts.second, 0) << "failed check: " << name << "\n" << r.err;
  }
  EXPECT_TRUE(fs::exists(dir_.path() / "scenario" / "written.txt"));
}

// The flag from the command line, and through stampede drill / capacity's shared run_request.
TEST_F(sandbox, the_command_line_flag_reaches_the_run) {
  const std::string script = dir_.write("getenv.lua", "options = { iterations = 1 }\nassert(os.getenv('PATH'))\nfunction default() end\n");
  auto run_cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"run", script, "-q", "--threads", "1"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int code = run_command(std::span<char* const>(argv.data(), argv.size()));
    const std::string err = ::testing::internal::GetCapturedStderr();
    ::testing::internal::GetCapturedStdout();
    return std::pair{code, err};
  };
  const auto [safe_code, safe_err] = run_cli({});
  EXPECT_EQ(safe_code, exit_script_error);
  EXPECT_NE(safe_err.find("getenv.lua:2: os.getenv is not available to scenarios"), std::string::npos) << safe_err;
  const auto [unsafe_code, unsafe_err] = run_cli({"--unsafe-lua"});
  EXPECT_EQ(unsafe_code, exit_ok) << unsafe_err;
}

// Each shipped scenario's top level runs and its options are valid, sandboxed (the modules under
// scenarios/lib are found next to them).
TEST(shipped_scenarios, every_one_loads_in_the_sandbox) {
  size_t loaded = 0;
  for (const auto& entry : fs::directory_iterator(STAMPEDE_SHIPPED_SCENARIOS)) {
    if (entry.path().extension() != ".lua") continue;
    SCOPED_TRACE(entry.path().string());
    run_plan plan;
    plan.script_path = entry.path().string();
    worker_outbox outbox;
    worker w(plan, 0, outbox);
    try {
      w.init();
      const run_options options = read_run_options(w.lua(), {});
      EXPECT_FALSE(options.scenarios.empty());
      ++loaded;
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  }
  EXPECT_GE(loaded, 10u);
}

}  // namespace
}  // namespace stampede::loadgen
