#include "loadgen/http_engine.h"

#include "loadgen/http_connection.h"

namespace stampede::loadgen {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using http_detail::inline_capacity;
using http_detail::micros;

http_engine::http_engine(asio::io_context& io, http_engine_options options)
    : io_(io), options_(std::move(options)) {
  options_.limits.max_kept_body_bytes = options_.discard_bodies ? 0 : options_.response_body_limit;
}

std::unique_ptr<char[]> http_engine::take_buffer() {
  if (free_buffers_.empty()) return std::make_unique<char[]>(read_buffer_size);
  auto buffer = std::move(free_buffers_.back());
  free_buffers_.pop_back();
  return buffer;
}

void http_engine::recycle(http_outcome& out) {
  keep_spare(out.headers.raw);
  keep_spare(out.body);
}

void http_engine::keep_spare(std::string& buffer) {
  if (buffer.capacity() <= inline_capacity) return;
  // Bounded: only parsers with a request in flight take spares, two each (headers, body); the slack covers
  // connections that start requests before the next responses are recycled.
  if (buffer.capacity() <= max_spare_capacity && spare_strings_.size() < 2 * active_.size() + 64) {
    buffer.clear();
    spare_strings_.push_back(std::move(buffer));
  }
  std::string().swap(buffer);  // empty without capacity, whether kept or freed
}

void http_engine::refill(std::string& buffer) {
  if (buffer.capacity() > inline_capacity || spare_strings_.empty()) return;
  buffer.swap(spare_strings_.back());
  spare_strings_.pop_back();
}

void http_engine::give_back_buffer(std::unique_ptr<char[]> buffer) {
  // Keep as many as were ever in use at once: steady state allocates nothing.
  if (buffer) free_buffers_.push_back(std::move(buffer));
}

asio::ssl::context& http_engine::tls_context() {
  // Created on the first https origin: loading the system's CA bundle costs tens of milliseconds.
  if (!tls_context_) {
    tls_context_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    tls_context_->set_default_verify_paths();
    tls_context_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                              asio::ssl::context::no_sslv3);
  }
  return *tls_context_;
}

http_engine::~http_engine() = default;

epoll_set& http_engine::own_epoll() {
  // No EPOLLRDHUP: a response is read until EAGAIN or complete, so the read itself sees a FIN.
  if (!own_epoll_)
    own_epoll_ = std::make_shared<epoll_set>(io_, &http_connection::on_event, EPOLLIN | EPOLLET);
  return *own_epoll_;
}

size_t http_engine::open_connections() const noexcept {
  size_t n = 0;
  for (const auto& [key, pool] : pools_) n += pool->connections.size();
  return n;
}

origin_pool& http_engine::pool_for(const parsed_url& url) {
  // Build the key without allocating for the common case by reusing a buffer.
  thread_local std::string key;
  key.assign(url.tls ? "https://" : "http://");
  key += url.host;
  key += ':';
  char port[8];
  auto [end, ec] = std::to_chars(port, port + sizeof port, url.port);
  key.append(port, end);
  if (auto it = pools_.find(key); it != pools_.end()) return *it->second;
  auto pool = std::make_unique<origin_pool>();
  pool->url = url;
  pool->url.path.clear();
  // Resolved once per worker and origin: load tests target a fixed set of hosts, and a blocking
  // resolve of a literal address or /etc/hosts name is instant.
  boost::system::error_code ec2;
  tcp::resolver resolver(io_);
  auto results = resolver.resolve(url.host, std::to_string(url.port), ec2);
  if (ec2) {
    pool->resolve_error = "cannot resolve '" + url.host + "': " + ec2.message();
  } else {
    for (const auto& entry : results) pool->endpoints.push_back(entry.endpoint());
  }
  return *pools_.emplace(key, std::move(pool)).first->second;
}

void http_engine::submit(const parsed_url& url, http_job& job) {
  {  // reset, keeping the buffers' capacity for the next response
    std::string headers = std::move(job.outcome.headers.raw);
    std::string body = std::move(job.outcome.body);
    job.outcome = http_outcome{};
    headers.clear();
    body.clear();
    job.outcome.headers.raw = std::move(headers);
    job.outcome.body = std::move(body);
  }
  job.retried = false;
  const auto now = steady::now();
  job.submitted_at = now;
  if (url.pool == nullptr) url.pool = &pool_for(url);  // pools live as long as the engine
  origin_pool& pool = *url.pool;
  http_connection* connection = nullptr;
  if (!pool.idle.empty()) {
    connection = pool.idle.back();
    pool.idle.pop_back();
  } else if (options_.max_connections_per_host <= 0 ||
             static_cast<int64_t>(pool.connections.size()) < options_.max_connections_per_host) {
    auto fresh = std::make_unique<http_connection>(*this, pool);
    fresh->pool_index = pool.connections.size();
    connection = fresh.get();
    pool.connections.push_back(std::move(fresh));
  } else {
    pool.waiters.push_back(&job);  // blocked until a connection is released
    return;
  }
  // Starting inline is safe: Asio never runs a completion handler inside the initiating call, so
  // on_complete cannot run before the submitting VU has yielded.
  start_on(*connection, job, now);
}

void http_engine::start_on(http_connection& connection, http_job& job, steady::time_point now) {
  job.outcome.acquired_at = now;
  job.outcome.timings.blocked = std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::microseconds>(job.outcome.acquired_at - job.submitted_at)
             .count());
  connection.active_index = active_.size();
  active_.push_back(&connection);
  connection.start(job);
}

void http_engine::deactivate(http_connection& connection) {
  const size_t index = connection.active_index;
  if (index < active_.size() && active_[index] == &connection) {
    active_[index] = active_.back();
    active_[index]->active_index = index;
    active_.pop_back();
  }
}

void http_engine::finished(http_connection& connection, http_job& job, bool reusable) {
  deactivate(connection);
  origin_pool& pool = connection.pool();
  connection.idle_since = job.outcome.finished_at;  // free from now (idle, or handed to a waiter)
  if (!pool.waiters.empty()) {
    // Hand the connection straight to the oldest waiter (it reconnects if this one was closed).
    http_job* next = pool.waiters.front();
    pool.waiters.pop_front();
    start_on(connection, *next, job.outcome.finished_at);  // the instant the connection came free
  } else if (reusable) {
    pool.idle.push_back(&connection);
  } else {
    const size_t index = connection.pool_index;
    if (index < pool.connections.size() && pool.connections[index].get() == &connection) {
      std::swap(pool.connections[index], pool.connections.back());
      pool.connections[index]->pool_index = index;
      pool.connections.pop_back();  // destroys `connection`: it has no operation pending
    }
  }
  job.on_complete();  // last: the VU may submit its next request from here
}

void http_engine::sweep(steady::time_point now) {
  for (http_connection* connection : active_) connection->check_deadline(now);
  // The timeout covers the whole exchange, the wait for a free connection included (maxConnectionsPerHost).
  for (auto& [key, pool] : pools_) {
    for (auto it = pool->waiters.begin(); it != pool->waiters.end();) {
      http_job* job = *it;
      if (now < job->submitted_at + job->timeout) {
        ++it;
        continue;
      }
      it = pool->waiters.erase(it);
      job->outcome.error = error_kind::read_timeout;
      job->outcome.error_message = "request timeout (still waiting for a free connection)";
      job->outcome.acquired_at = now;
      job->outcome.finished_at = now;
      job->outcome.timings.blocked = micros(now - job->submitted_at);
      asio::post(io_, [job] { job->on_complete(); });  // never inside the sweep: it may submit again
    }
  }
}

void http_engine::abort(http_job& job) {
  for (http_connection* connection : active_) {
    if (connection->job() == &job) {
      connection->abort();
      return;
    }
  }
  for (auto& [key, pool] : pools_) {
    auto it = std::find(pool->waiters.begin(), pool->waiters.end(), &job);
    if (it == pool->waiters.end()) continue;
    pool->waiters.erase(it);
    asio::post(io_, [&job] {
      job.outcome.error = error_kind::other;
      job.outcome.error_message = "aborted at the end of the run";
      job.on_complete();
    });
    return;
  }
}

void http_engine::abort_all() {
  for (http_connection* connection : active_) connection->abort();
  for (auto& [key, pool] : pools_) {
    while (!pool->waiters.empty()) {
      http_job* job = pool->waiters.front();
      pool->waiters.pop_front();
      asio::post(io_, [job] {
        job->outcome.error = error_kind::other;
        job->outcome.error_message = "aborted at the end of the run";
        job->outcome.finished_at = steady::now();
        job->on_complete();
      });
    }
  }
}

}  // namespace stampede::loadgen
