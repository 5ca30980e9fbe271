// Fault proxy control plane: named proxies, their toxics, the injection log. The data plane is in
// connection.cpp (pumps) and chaos/toxics/ (what each toxic does). See proxy_server.h.
#include "chaos/proxy_server.h"

#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <thread>

#include "chaos/connection.h"
#include "chaos/endpoints.h"
#include "chaos/io_loop.h"
#include "chaos/proxy_listener.h"
#include "chaos/rng.h"

namespace stampede::chaos {

using namespace std::chrono_literals;

void report_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "stampede proxy: internal error in a connection: %s\n", x.what());
  }
}

void recorder::record(std::string_view proxy, std::string_view toxic, std::string_view type,
                      std::string_view direction, uint64_t connection, uint64_t request, std::string detail) {
  injection e;
  e.time = std::chrono::system_clock::now();
  e.since_start = steady::now() - start;
  e.proxy = proxy;
  e.toxic = toxic;
  e.type = type;
  e.direction = direction;
  e.connection = connection;
  e.request = request;
  e.detail = std::move(detail);
  {
    std::lock_guard lock(mutex);
    ++counts[std::string(proxy) + "/" + std::string(toxic)];
  }
  log->append(std::move(e));
}

void recorder::note(std::string_view proxy, std::string_view type, std::string detail) {
  injection e;
  e.time = std::chrono::system_clock::now();
  e.since_start = steady::now() - start;
  e.proxy = proxy;
  e.type = type;
  e.direction = "connection";
  e.detail = std::move(detail);
  log->append(std::move(e));
}

uint64_t recorder::count(std::string_view proxy, std::string_view toxic) const {
  std::lock_guard lock(mutex);
  auto it = counts.find(std::string(proxy) + "/" + std::string(toxic));
  return it == counts.end() ? 0 : it->second;
}

std::vector<std::shared_ptr<connection>> proxy_shared::publish_locked() {
  auto next = std::make_shared<toxic_snapshot>();
  next->toxics = toxics;
  next->has_http = std::any_of(toxics.begin(), toxics.end(), [](const auto& t) { return is_http_toxic(t->spec.type); });
  snapshot = std::move(next);
  generation.fetch_add(1, std::memory_order_acq_rel);
  std::vector<std::shared_ptr<connection>> out;
  for (auto& [id, weak] : connections) {
    if (auto c = weak.lock()) out.push_back(std::move(c));
  }
  return out;
}

std::vector<std::shared_ptr<connection>> proxy_shared::live_connections() const {
  std::lock_guard lock(mutex);
  std::vector<std::shared_ptr<connection>> out;
  for (const auto& [id, weak] : connections) {
    if (auto c = weak.lock()) out.push_back(std::move(c));
  }
  return out;
}

namespace {

// Descriptors kept out of the proxies' reach: the API, log files, the rest of the process.
constexpr size_t reserved_descriptors = 256;

size_t descriptor_budget() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1'000'000;
  const auto soft = static_cast<size_t>(limit.rlim_cur);
  return std::max<size_t>(16, soft > 2 * reserved_descriptors ? (soft - reserved_descriptors) / 2 : soft / 4);
}

void validate_name(std::string_view name) {
  if (name.empty()) throw chaos_error(error_kind::invalid_argument, "missing required field: name");
  if (name.size() > 200) throw chaos_error(error_kind::invalid_argument, "proxy name is longer than 200 bytes");
  for (char c : name) {
    if (c == '/' || static_cast<unsigned char>(c) < 0x20) {
      throw chaos_error(error_kind::invalid_argument, "proxy name contains '/' or a control byte");
    }
  }
}

void wake_all(const std::vector<std::shared_ptr<connection>>& connections) {
  for (const auto& c : connections) c->wake();
}

// STAMPEDE_PROXY_LOOP=0 (or off/false/no) in the environment turns the own loop off (A/B).
bool loop_turned_off_by_environment() {
  const char* value = std::getenv("STAMPEDE_PROXY_LOOP");
  if (!value) return false;
  const std::string_view v(value);
  return v == "0" || v == "off" || v == "false" || v == "no";
}

// The toxic checked and normalised, or chaos_error(invalid_argument) saying what is wrong.
toxic_spec validated(toxic_spec toxic) {
  try {
    toxic.validate_and_normalize();
  } catch (const invalid_toxic& e) {
    throw chaos_error(error_kind::invalid_argument, e.what());
  }
  return toxic;
}

}  // namespace

struct proxy_server::impl {
  // With one io thread, every socket and timer is used from that thread only (other threads post), so
  // the reactor's per-descriptor locks can go; with more threads, strands serialise and locks stay.
  explicit impl(int threads) : io(threads == 1 ? BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO : threads) {}
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  // The own epoll set of every proxy (connections with no toxic), and the loop that waits on it; both
  // null with several io threads. Before io in destruction: connections still in io's handlers hold
  // the set until io goes.
  std::shared_ptr<epoll_set> set;
  std::shared_ptr<io_loop> loop;
  io_wait mode = io_wait::asio;
  std::vector<std::thread> threads;
  std::shared_ptr<std::atomic<uint64_t>> pipes = std::make_shared<std::atomic<uint64_t>>(0);
  std::shared_ptr<recorder> rec = std::make_shared<recorder>();
  std::shared_ptr<std::atomic<uint64_t>> active = std::make_shared<std::atomic<uint64_t>>(0);
  size_t max_total = 0;
  mutable std::mutex mutex;  // guards proxies (the map and each listener's config)
  std::map<std::string, std::unique_ptr<proxy_listener>, std::less<>> proxies;
  std::map<std::string, uint64_t> toxic_versions;  // "proxy/toxic" -> last version (survives removal)

  proxy_listener& find(std::string_view name) {
    auto it = proxies.find(name);
    if (it == proxies.end()) throw chaos_error(error_kind::not_found, "proxy not found");
    return *it->second;
  }

  proxy_info info(const proxy_listener& p) const;
  std::optional<std::string> loop_through(std::string_view name, const tcp::endpoint& listen,
                                          const std::vector<tcp::endpoint>& upstream) const;
  // start() of `p` with the loop check of this server (mutex held).
  void start(proxy_listener& p) {
    p.start([this, &p](const tcp::endpoint& listen) {
      return loop_through(p.config().name, listen, p.shared().upstream_endpoints());
    });
  }
};

proxy_info proxy_server::impl::info(const proxy_listener& p) const {
  proxy_info out;
  out.config = p.config();
  const auto& s = p.shared();
  {
    std::lock_guard lock(s.mutex);
    for (const auto& t : s.toxics) out.toxics.push_back(t->spec);
  }
  for (const auto& t : out.toxics) out.injections[t.name] = rec->count(s.name, t.name);
  out.connections_accepted = s.accepted.load();
  out.connections_active = s.active.load();
  out.connections_refused = s.refused.load();
  out.connections_rejected = s.rejected.load();
  out.bytes_upstream = s.bytes_up.load();
  out.bytes_downstream = s.bytes_down.load();
  out.received_upstream = s.received_up.load();
  out.received_downstream = s.received_down.load();
  out.bytes_spliced = s.spliced.load();
  return out;
}

// Would proxy `name`, listening on `listen` with `upstream`, get its own traffic back, directly or
// through other proxies of this server? Says how, or nullopt. (Loops through other processes cannot be
// seen from here: max_connections bounds them.)
std::optional<std::string> proxy_server::impl::loop_through(std::string_view name, const tcp::endpoint& listen,
                                                            const std::vector<tcp::endpoint>& upstream) const {
  struct node {
    std::string name;
    std::optional<tcp::endpoint> listen;
    std::vector<tcp::endpoint> upstream;
  };
  std::vector<node> nodes{{std::string(name), listen, upstream}};
  for (const auto& [other, p] : proxies) {
    if (other != name) nodes.push_back({other, p->listen_endpoint(), p->shared().upstream_endpoints()});
  }
  auto edge = [&](size_t from, size_t to) {
    return nodes[to].listen && std::any_of(nodes[from].upstream.begin(), nodes[from].upstream.end(),
                                           [&](const tcp::endpoint& u) { return arrives_at(u, *nodes[to].listen); });
  };
  if (edge(0, 0)) {
    return "its upstream " + endpoint_text(listen) + " is its own listen address (one connection would open "
           "connections to itself until descriptors run out)";
  }
  std::vector<size_t> parent(nodes.size(), SIZE_MAX);
  std::deque<size_t> queue{0};
  while (!queue.empty()) {  // breadth first along "its upstream is their listen address"
    const size_t at = queue.front();
    queue.pop_front();
    for (size_t to = 0; to < nodes.size(); ++to) {
      if (!edge(at, to)) continue;
      if (to == 0) {
        std::string path = nodes[0].name;
        for (size_t i = at; i != 0; i = parent[i]) path = nodes[i].name + " -> " + path;
        return "its traffic would come back to it: " + nodes[0].name + " -> " + path;
      }
      if (parent[to] == SIZE_MAX) {
        parent[to] = at;
        queue.push_back(to);
      }
    }
  }
  return std::nullopt;
}

proxy_server::proxy_server(server_options options)
    : options_(std::move(options)),
      log_(std::make_shared<injection_log>(options_.log_capacity)),
      impl_(std::make_unique<impl>(std::clamp(options_.threads, 1, 64))) {
  impl_->rec->log = log_;
  impl_->max_total = options_.max_total_connections > 0 ? options_.max_total_connections : descriptor_budget();
  const int threads = std::clamp(options_.threads, 1, 64);
  if (threads == 1) make_own_set();
  for (int i = 0; i < threads; ++i) {
    impl_->threads.emplace_back([this] {
      // splice(2) into a socket the peer closed raises SIGPIPE (it has no MSG_NOSIGNAL): keep it
      // pending on this thread rather than let it end the process; the splice sees EPIPE.
      sigset_t pipe_signal;
      sigemptyset(&pipe_signal);
      sigaddset(&pipe_signal, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
      if (impl_->loop) {
        impl_->loop->run();
      } else {
        impl_->io.run();
      }
    });
  }
}

// The server's set and, unless turned off or Asio's reactor cannot be found, the own loop.
void proxy_server::make_own_set() {
  auto& im = *impl_;
  if (!epoll_set_enabled()) return;
  const bool loop_wanted = options_.own_loop && !loop_turned_off_by_environment();
  try {
    if (loop_wanted) {
      const int reactor = io_loop::find_reactor(im.io, options_.proc_self);
      if (reactor >= 0) {
        auto set = connection::make_set(nullptr);
        im.loop = std::make_shared<io_loop>(im.io, set, reactor);
        im.set = std::move(set);
        im.mode = io_wait::own_loop;
        return;
      }
      std::fprintf(stderr,
                   "stampede proxy: Asio's reactor descriptor not found under %s/fdinfo: the io thread runs "
                   "io_context::run() with the own epoll set nested (one more epoll_wait and epoll_ctl per "
                   "wake-up)\n",
                   options_.proc_self.c_str());
    }
    im.set = connection::make_set(&im.io);
    if (im.set) im.mode = io_wait::nested;
  } catch (const std::exception& e) {
    im.loop.reset();
    im.set.reset();
    im.mode = io_wait::asio;
    std::fprintf(stderr, "stampede proxy: no own epoll set (%s): connections stay on Asio's reactor\n",
                 e.what());
  }
}

io_wait proxy_server::io_wait_mode() const noexcept { return impl_->mode; }

void proxy_shared::kick() const {
  if (loop) loop->kick();
}

proxy_server::~proxy_server() {
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& [name, p] : impl_->proxies) p->stop();
    impl_->proxies.clear();
  }
  impl_->work.reset();
  // Connections close asynchronously; give them a moment, then stop the loop regardless.
  const auto deadline = steady::now() + 2s;
  while (!impl_->io.stopped() && steady::now() < deadline) std::this_thread::sleep_for(5ms);
  impl_->io.stop();
  if (impl_->loop) impl_->loop->kick();  // stop() does not interrupt a reactor that the loop waits on
  for (auto& t : impl_->threads) t.join();
}

proxy_info proxy_server::add_proxy(proxy_config config) {
  validate_name(config.name);
  auto upstream = resolve(impl_->io, config.upstream, "upstream");
  std::lock_guard lock(impl_->mutex);
  if (impl_->proxies.contains(config.name)) throw chaos_error(error_kind::already_exists, "proxy already exists");
  auto shared = std::make_shared<proxy_shared>();
  shared->name = config.name;
  shared->seed = derive(options_.seed, hash_text(config.name));
  shared->options = options_;
  shared->rec = impl_->rec;
  shared->io = &impl_->io;
  shared->max_connections = config.max_connections > 0 ? config.max_connections : options_.max_connections;
  shared->server_active = impl_->active;
  shared->server_max_connections = impl_->max_total;
  shared->server_pipes = impl_->pipes;
  shared->set = impl_->set;
  shared->loop = impl_->loop;
  shared->upstream = std::move(upstream);
  const bool enabled = config.enabled;
  auto listener = std::make_unique<proxy_listener>(shared, config);
  if (enabled) {
    impl_->start(*listener);
  } else {
    // Validate the address now so a bad config fails at creation, not at enable time.
    auto ep = resolve(impl_->io, config.listen, "listen address").front();
    if (!options_.allow_remote && !ep.address().is_loopback()) {
      throw chaos_error(error_kind::invalid_argument,
                        "listen address '" + config.listen + "' is not loopback (allow_remote is off)");
    }
    if (ep.port() != 0) {
      if (auto why = impl_->loop_through(config.name, ep, shared->upstream)) {
        throw chaos_error(error_kind::invalid_argument, "proxy '" + config.name + "' would loop: " + *why);
      }
    }
  }
  auto& ref = *listener;
  impl_->proxies.emplace(config.name, std::move(listener));
  return impl_->info(ref);
}

std::vector<proxy_info> proxy_server::populate(const std::vector<proxy_config>& configs) {
  std::vector<proxy_info> out;
  for (const auto& c : configs) {
    std::optional<proxy_info> existing = proxy(c.name);
    if (existing) {
      const bool same_listen =
          c.listen == existing->config.listen || parse_endpoint(c.listen, "listen").port == 0;
      if (same_listen && c.upstream == existing->config.upstream) {
        out.push_back(update_proxy(c.name, {}, {}, c.enabled, c.max_connections > 0 ? std::optional(c.max_connections)
                                                                                   : std::nullopt));
        continue;
      }
      remove_proxy(c.name);
    }
    out.push_back(add_proxy(c));
  }
  return out;
}

proxy_info proxy_server::update_proxy(std::string_view name, std::optional<std::string> listen,
                                      std::optional<std::string> upstream, std::optional<bool> enabled,
                                      std::optional<size_t> max_connections) {
  std::optional<std::vector<tcp::endpoint>> endpoints;
  if (upstream) endpoints = resolve(impl_->io, *upstream, "upstream");
  std::lock_guard lock(impl_->mutex);
  auto& p = impl_->find(name);
  const bool new_listen = listen && *listen != p.config().listen;
  const bool restart = new_listen || (upstream && *upstream != p.config().upstream);
  const bool want_enabled = enabled.value_or(p.config().enabled);
  if (restart) {
    // Refuse a loop before touching anything (a port-0 listen is checked, and avoided, when bound).
    const auto next_listen = new_listen ? resolve(impl_->io, *listen, "listen address").front()
                                        : p.listen_endpoint().value_or(tcp::endpoint{});
    if (next_listen.port() != 0) {
      if (auto why = impl_->loop_through(name, next_listen, endpoints ? *endpoints : p.shared().upstream_endpoints())) {
        throw chaos_error(error_kind::invalid_argument, "proxy '" + std::string(name) + "' would loop: " + *why);
      }
    }
  }
  if (max_connections) p.set_max_connections(*max_connections > 0 ? *max_connections : options_.max_connections);
  if (restart) {
    const bool was_enabled = p.config().enabled;
    p.stop();
    if (new_listen) p.set_listen(*listen);
    if (endpoints) p.set_upstream(*upstream, std::move(*endpoints));
    if (want_enabled || (!enabled && was_enabled)) impl_->start(p);
  } else if (want_enabled && !p.config().enabled) {
    impl_->start(p);
  } else if (!want_enabled && p.config().enabled) {
    p.stop();
  }
  return impl_->info(p);
}

void proxy_server::remove_proxy(std::string_view name) {
  std::unique_ptr<proxy_listener> victim;
  {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->proxies.find(name);
    if (it == impl_->proxies.end()) throw chaos_error(error_kind::not_found, "proxy not found");
    victim = std::move(it->second);
    impl_->proxies.erase(it);
  }
  victim->stop();
}

std::optional<proxy_info> proxy_server::proxy(std::string_view name) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->proxies.find(name);
  if (it == impl_->proxies.end()) return std::nullopt;
  return impl_->info(*it->second);
}

std::vector<proxy_info> proxy_server::proxies() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<proxy_info> out;
  for (const auto& [name, p] : impl_->proxies) out.push_back(impl_->info(*p));
  return out;
}

toxic_spec proxy_server::add_toxic(std::string_view proxy_name, toxic_spec toxic) {
  toxic = validated(std::move(toxic));
  std::vector<std::shared_ptr<connection>> to_wake;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = impl_->find(proxy_name).shared();
    std::lock_guard toxics_lock(s.mutex);
    for (const auto& t : s.toxics) {
      if (t->spec.name == toxic.name) throw chaos_error(error_kind::already_exists, "toxic already exists");
    }
    auto rt = std::make_shared<toxic_runtime>();
    rt->spec = toxic;
    rt->version = ++impl_->toxic_versions[std::string(proxy_name) + "/" + toxic.name];
    rt->name_hash = hash_text(toxic.name);
    rt->first_n_used = std::make_shared<std::atomic<int64_t>>(0);
    s.toxics.push_back(std::move(rt));
    to_wake = s.publish_locked();
  }
  wake_all(to_wake);
  return toxic;
}

toxic_spec proxy_server::update_toxic(std::string_view proxy_name, const toxic_spec& toxic) {
  const toxic_spec updated = validated(toxic);
  std::vector<std::shared_ptr<connection>> to_wake;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = impl_->find(proxy_name).shared();
    std::lock_guard toxics_lock(s.mutex);
    auto it = std::find_if(s.toxics.begin(), s.toxics.end(), [&](const auto& t) { return t->spec.name == updated.name; });
    if (it == s.toxics.end()) throw chaos_error(error_kind::not_found, "toxic not found");
    if ((*it)->spec.type != updated.type) {
      throw chaos_error(error_kind::invalid_argument, "a toxic's type cannot change; remove and add it");
    }
    auto rt = std::make_shared<toxic_runtime>();
    rt->spec = updated;
    rt->version = ++impl_->toxic_versions[std::string(proxy_name) + "/" + updated.name];
    rt->name_hash = (*it)->name_hash;
    rt->first_n_used = (*it)->first_n_used;
    *it = std::move(rt);
    to_wake = s.publish_locked();
  }
  wake_all(to_wake);
  return updated;
}

void proxy_server::remove_toxic(std::string_view proxy_name, std::string_view toxic_name) {
  std::vector<std::shared_ptr<connection>> to_wake;
  {
    std::lock_guard lock(impl_->mutex);
    auto& s = impl_->find(proxy_name).shared();
    std::lock_guard toxics_lock(s.mutex);
    auto it = std::find_if(s.toxics.begin(), s.toxics.end(), [&](const auto& t) { return t->spec.name == toxic_name; });
    if (it == s.toxics.end()) throw chaos_error(error_kind::not_found, "toxic not found");
    s.toxics.erase(it);
    to_wake = s.publish_locked();
  }
  wake_all(to_wake);
}

std::optional<toxic_spec> proxy_server::toxic(std::string_view proxy_name, std::string_view toxic_name) const {
  for (auto& t : toxics(proxy_name)) {
    if (t.name == toxic_name) return t;
  }
  return std::nullopt;
}

std::vector<toxic_spec> proxy_server::toxics(std::string_view proxy_name) const {
  std::lock_guard lock(impl_->mutex);
  auto& s = impl_->find(proxy_name).shared();
  std::lock_guard toxics_lock(s.mutex);
  std::vector<toxic_spec> out;
  for (const auto& t : s.toxics) out.push_back(t->spec);
  return out;
}

void proxy_server::reset() {
  std::vector<std::shared_ptr<connection>> to_wake;
  std::string errors;
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& [name, p] : impl_->proxies) {
      auto& s = p->shared();
      {
        std::lock_guard toxics_lock(s.mutex);
        s.toxics.clear();
        auto woken = s.publish_locked();
        to_wake.insert(to_wake.end(), woken.begin(), woken.end());
      }
      if (!p->config().enabled) {
        try {
          impl_->start(*p);
        } catch (const chaos_error& e) {
          errors += std::string(errors.empty() ? "" : "; ") + e.what();
        }
      }
    }
  }
  wake_all(to_wake);
  if (!errors.empty()) throw chaos_error(error_kind::io_error, "reset: " + errors);
}

std::map<std::string, uint64_t> proxy_server::injection_counts() const {
  std::lock_guard lock(impl_->rec->mutex);
  return impl_->rec->counts;
}

}  // namespace stampede::chaos
