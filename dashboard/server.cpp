#include "dashboard/server.h"

#include <arpa/inet.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/http_server.h"
#include "common/small_endpoint.h"

namespace stampede::dashboard {

namespace {

using clock = std::chrono::steady_clock;

constexpr auto max_wait = std::chrono::seconds(10);       // a waiting /events request then gets a keep-alive
constexpr size_t max_waiting = 64;                        // requests held for the next update
constexpr auto linger = std::chrono::milliseconds(1500);  // at the end, for a page to fetch the last event

http::response event_stream(std::string body) {
  http::response r;
  r.content_type = "text/event-stream";
  r.body = std::move(body);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

// "retry: 250" makes EventSource come back 250 ms after each answer; "id:" is what it sends back as
// Last-Event-ID.
std::string event_text(uint64_t version, const std::string& json) {
  return "retry: 250\nid: " + std::to_string(version) + "\ndata: " + json + "\n\n";
}

const std::string keep_alive = "retry: 250\n: waiting for the next second\n\n";

}  // namespace

struct server::shared {
  struct waiting {
    http::responder reply;
    clock::time_point since;
  };
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  live_state state;
  std::string event;  // event_text of the current state
  std::vector<waiting> waiters;
  clock::time_point last_request{};  // of /events: a page is watching when recent
  bool end_delivered = false;        // a request got the final event

  explicit shared(run_info info) : state(std::move(info)) { event = event_text(0, state.event_json()); }

  // Under `mutex`: a new state; every waiting request gets it.
  void changed() {
    event = event_text(state.version(), state.event_json());
    if (state.ended() && !waiters.empty()) end_delivered = true;
    for (auto& w : waiters) w.reply(event_stream(event));
    waiters.clear();
    wake.notify_all();
  }

  void on_events(const http::request& request, http::responder reply) {
    uint64_t seen = 0;
    const std::string_view last = request.header("Last-Event-ID");
    const bool has_last =
        !last.empty() && std::from_chars(last.data(), last.data() + last.size(), seen).ec == std::errc{};
    std::lock_guard lock(mutex);
    last_request = clock::now();
    if (!has_last || seen < state.version() || state.ended()) {
      reply(event_stream(event));
      if (state.ended()) {
        end_delivered = true;
        wake.notify_all();
      }
      return;
    }
    if (waiters.size() >= max_waiting) {  // the oldest gives way
      waiters.front().reply(event_stream(keep_alive));
      waiters.erase(waiters.begin());
    }
    waiters.push_back({std::move(reply), clock::now()});
  }

  // A request held max_wait without an update (before the load: the script's top level, setup()) gets a
  // keep-alive answer, before the server's own handler deadline would close it as an error.
  void tick() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      wake.wait_for(lock, std::chrono::seconds(1));
      const auto now = clock::now();
      std::erase_if(waiters, [&](waiting& w) {
        if (now - w.since < max_wait) return false;
        w.reply(event_stream(keep_alive));
        return true;
      });
    }
  }
};

server::server(const host_port& address, run_info info)
    : address_(address), shared_(std::make_shared<shared>(std::move(info))) {
  const http::server_options options =
      http::small_endpoint_options(address.host, address.port, std::chrono::seconds(5));
  std::shared_ptr<shared> state = shared_;
  server_ = std::make_unique<http::server>(options, [state](http::request& request, http::responder reply) {
    if (request.method != "GET" && request.method != "HEAD") {
      http::response r = http::response::error(405, "method_not_allowed", "GET / or /events");
      r.headers.emplace_back("Allow", "GET, HEAD");
      reply(std::move(r));
      return;
    }
    const std::string_view path = request.path();
    if (path == "/" || path == "/index.html") {
      http::response r;
      r.content_type = "text/html; charset=utf-8";
      r.body = page_html();
      r.headers.emplace_back("Cache-Control", "no-store");
      reply(std::move(r));
    } else if (path == "/events") {
      state->on_events(request, std::move(reply));
    } else {
      reply(http::response::error(404, "not_found", "the dashboard serves / and /events"));
    }
  });
  server_->start();
  address_.port = server_->port();
  ticker_ = std::thread([state] { state->tick(); });
}

server::~server() {
  {
    std::unique_lock lock(shared_->mutex);
    // A page between two requests (EventSource waits `retry` before asking again) would find the server
    // gone and never learn that the run ended: when one watched lately, wait a little for it to come back.
    if (shared_->state.ended() && clock::now() - shared_->last_request < std::chrono::seconds(3))
      shared_->wake.wait_for(lock, linger, [&] { return shared_->end_delivered; });
    shared_->stopping = true;
  }
  shared_->wake.notify_all();
  ticker_.join();
  server_->stop(std::chrono::milliseconds(500));
}

void server::publish(live_update update) {
  std::lock_guard lock(shared_->mutex);
  shared_->state.update(std::move(update));
  shared_->changed();
}

void server::finish(run_end end) {
  std::lock_guard lock(shared_->mutex);
  shared_->state.end(std::move(end));
  shared_->changed();
}

uint16_t server::port() const noexcept { return server_->port(); }

std::string server::url() const { return "http://" + to_string(address_) + "/"; }

host_port parse_listen_address(std::string_view text, std::string_view flag) {
  host_port address = parse_host_port(text, flag, {.default_host = {}, .port_zero_allowed = true});
  unsigned char ip[16];
  if (inet_pton(AF_INET, address.host.c_str(), ip) != 1 &&
      inet_pton(AF_INET6, address.host.c_str(), ip) != 1) {
    throw std::invalid_argument(std::string(flag) + " '" + std::string(text) +
                                "' needs an IP address to bind (e.g. 127.0.0.1:8089), not a host name");
  }
  return address;
}

}  // namespace stampede::dashboard
