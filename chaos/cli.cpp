// `stampede proxy` — concurrency: the proxy_server's io threads carry the proxied traffic (strand per
// connection); common/http_server's own thread and io_context serve the control API, so a saturated
// data plane never delays it (its handlers only take short locks; proxy_server keeps descriptors in
// reserve for it); the main thread only waits for SIGINT/SIGTERM (blocked in every thread, taken with
// sigwait) and then stops both.
#include "chaos/cli.h"

#include <pthread.h>

#include <boost/asio/ip/address.hpp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "chaos/api.h"
#include "chaos/proxy_server.h"
#include "common/cli_args.h"
#include "common/host_port.h"
#include "common/http_server.h"
#include "common/limits.h"

namespace stampede::chaos {
namespace {

constexpr int exit_ok = cli::exit_ok;
constexpr int exit_startup = 1;
constexpr int exit_usage = cli::exit_usage;

const cli::command spec{
    "stampede proxy",
    "[--listen HOST:PORT] [--config FILE] [--seed N] [--threads N]\n"
    "[--max-connections N] [--allow-remote --api-token TOKEN]",
    "Fault-injecting TCP proxy with a Toxiproxy-compatible HTTP API (see docs/CHAOS.md).",
    {{"--listen", {}, "HOST:PORT", "API address (default 127.0.0.1:8474; loopback only unless --allow-remote)"},
     {"--config", {}, "FILE", "JSON array of proxies to create at start (as POST /populate)"},
     cli::seed_flag("seed of every random fault decision (default 1): same seed, same run"),
     cli::threads_flag("io threads for proxied traffic, 1..64 (default 1)"),
     {"--max-connections", {}, "N",
      "open connections per proxy at most (default 4096; a proxy's own\n"
      "max_connections overrides it); beyond, connections are accepted,\n"
      "closed and counted (stampede_proxy_connections_rejected_total)"},
     {"--allow-remote", {}, {}, "allow a non-loopback API address, API clients and proxy listeners"},
     {"--api-token", {}, "TOKEN",
      "required with --allow-remote: non-loopback API clients send\n"
      "Authorization: Bearer TOKEN (at least 16 characters)"}},
    {}};

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > 20) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != v) return false;
    v = next;
  }
  out = v;
  return true;
}

// What the command line asks for.
struct proxy_flags {
  std::string listen = "127.0.0.1:8474";
  std::string config_path;
  uint64_t seed = 1;
  uint64_t threads = 1;
  uint64_t max_connections = server_options{}.max_connections;
  bool allow_remote = false;
  std::string api_token;
  boost::asio::ip::address address;  // of --listen, once checked
  uint16_t port = 0;
};

// The values of the flags, checked. Throws cli::usage_error naming the flag.
void read_flags(const cli::parsed_args& a, proxy_flags& f) {
  auto bad = [](const std::string& v, const char* message) {
    return cli::usage_error(std::string(message) + ", got '" + v + "'");
  };
  if (!a.positional().empty()) throw cli::usage_error("unexpected argument '" + a.positional()[0] + "'");
  f.listen = a.get("--listen", f.listen);
  f.config_path = a.get("--config");
  if (auto v = a.value("--seed"); v && !parse_u64(*v, f.seed)) throw bad(*v, "--seed needs a non-negative integer");
  if (auto v = a.value("--threads"); v && (!parse_u64(*v, f.threads) || f.threads == 0 || f.threads > 64)) {
    throw bad(*v, "--threads must be 1..64");
  }
  if (auto v = a.value("--max-connections");
      v && (!parse_u64(*v, f.max_connections) || f.max_connections == 0 || f.max_connections > 1'000'000)) {
    throw bad(*v, "--max-connections must be 1..1000000");
  }
  f.allow_remote = a.has("--allow-remote");
  if (auto v = a.value("--api-token")) {
    // The value is a secret: not echoed.
    if (v->size() < 16) throw cli::usage_error("--api-token needs at least 16 characters");
    f.api_token = *v;
  }
}

// Reads the flags. Returns an exit code when the command ends here (--help, a bad flag or value).
std::optional<int> parse_flags(std::span<char* const> args, proxy_flags& f) {
  try {
    const auto a = cli::parse(spec, args);
    if (a.help()) {
      std::fputs(cli::help_text(spec).c_str(), stdout);
      return exit_ok;
    }
    read_flags(a, f);
  } catch (const cli::usage_error& e) {
    return cli::usage_failure(spec, e.what());
  }
  return std::nullopt;
}

// Checks --listen (an IP:PORT, loopback unless --allow-remote, which needs --api-token) and fills
// f.address and f.port. Returns an exit code on error.
std::optional<int> check_listen(proxy_flags& f) {
  host_port listen;
  try {
    listen = parse_host_port(f.listen, "--listen", {.default_host = "127.0.0.1", .port_zero_allowed = true});
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "stampede proxy: %s\n", e.what());
    return exit_usage;
  }
  boost::system::error_code ec;
  f.address = boost::asio::ip::make_address(listen.host, ec);
  if (ec) {  // a name: the API binds an address
    std::fprintf(stderr, "stampede proxy: --listen must be IP:PORT, got '%s'\n", f.listen.c_str());
    return exit_usage;
  }
  f.port = listen.port;
  if (f.allow_remote && f.api_token.empty()) {
    std::fprintf(stderr, "stampede proxy: --allow-remote needs --api-token TOKEN (remote API clients must send it)\n");
    return exit_usage;
  }
  if (!f.allow_remote && !f.address.is_loopback()) {
    std::fprintf(stderr, "stampede proxy: --listen %s is not a loopback address; add --allow-remote to expose the API\n",
                 f.listen.c_str());
    return exit_usage;
  }
  return std::nullopt;
}

// The proxies of the --config file (none without one). Returns an exit code on error.
std::optional<int> read_config(const std::string& path, std::vector<proxy_config>& out) {
  if (path.empty()) return std::nullopt;
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "stampede proxy: cannot read --config %s: %s\n", path.c_str(), std::strerror(errno));
    return exit_startup;
  }
  std::stringstream text;
  text << in.rdbuf();
  try {
    out = parse_proxy_list(text.str());
  } catch (const chaos_error& e) {
    std::fprintf(stderr, "stampede proxy: --config %s: %s\n", path.c_str(), e.what());
    return exit_startup;
  }
  return std::nullopt;
}

// Starts the proxies and the API, waits for SIGINT/SIGTERM (blocked in `signals`), then heals and stops.
int serve(const proxy_flags& f, const std::vector<proxy_config>& initial, const sigset_t& signals) {
  // Every proxied connection holds two descriptors: raise RLIMIT_NOFILE and say so when it stays low
  // (beyond it, accepts back off and clients wait in the backlog). Hardening.
  const std::string what = "stampede proxy: " + std::to_string(f.max_connections) + " proxied connections";
  if (const std::string problem = check_fd_limit(2 * f.max_connections, what); !problem.empty()) {
    std::fprintf(stderr, "warning: %s\n", problem.c_str());
  }
  proxy_server server(server_options{.threads = static_cast<int>(f.threads),
                                     .seed = f.seed,
                                     .allow_remote = f.allow_remote,
                                     .max_connections = static_cast<size_t>(f.max_connections)});
  try {
    for (const auto& p : server.populate(initial)) {
      std::printf("proxy %s: %s -> %s%s\n", p.config.name.c_str(), p.config.listen.c_str(), p.config.upstream.c_str(),
                  p.config.enabled ? "" : " (disabled)");
    }
  } catch (const chaos_error& e) {
    std::fprintf(stderr, "stampede proxy: --config %s: %s\n", f.config_path.c_str(), e.what());
    return exit_startup;
  }
  http::server_options api_options;
  api_options.address = f.address.to_string();
  api_options.port = f.port;
  api_options.threads = 1;
  http::server api(api_options, make_api_handler(server, {.allow_remote = f.allow_remote, .token = f.api_token}));
  try {
    api.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede proxy: cannot serve the API on %s: %s\n", f.listen.c_str(), e.what());
    return exit_startup;
  }
  std::printf("stampede proxy: API on %s:%u (seed %llu)\n", f.address.to_string().c_str(), api.port(),
              static_cast<unsigned long long>(f.seed));
  std::fflush(stdout);

  int received = 0;
  sigwait(&signals, &received);
  std::printf("stampede proxy: %s, stopping\n", received == SIGINT ? "SIGINT" : "SIGTERM");
  std::fflush(stdout);
  api.stop(std::chrono::milliseconds{500});
  server.heal_all();
  return exit_ok;
}

}  // namespace

int proxy_command(std::span<char* const> args) {
  proxy_flags flags;
  if (auto code = parse_flags(args, flags)) return *code;
  if (auto code = check_listen(flags)) return *code;
  std::vector<proxy_config> initial;
  if (auto code = read_config(flags.config_path, initial)) return *code;
  // Block the stop signals before any thread starts so that only sigwait (in serve) receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return serve(flags, initial, signals);
}

}  // namespace stampede::chaos
