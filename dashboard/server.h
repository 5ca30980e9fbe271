// The live dashboard over HTTP (`stampede run --dashboard IP:PORT`; docs/REPORTS.md, "Live dashboard"):
// GET / is the page (self-contained: the report's stylesheet, inline script, no external fetch), GET
// /events its server-sent events, one JSON event (live_state::event_json) per update.
//
// The server is common/http_server on one thread of its own, at most 16 connections. /events answers each
// request with the events the client has not seen (by Last-Event-ID) and ends the response; when it has
// seen them all, the request waits for the next update (at most 10 s, then an empty keep-alive answer).
// EventSource reconnects by itself after `retry` (250 ms), so the page gets every update within about
// that. A client that never reads holds one connection until the write deadline (5 s), never the run:
// publish() only swaps the state under a mutex and hands the waiting requests their reply, which the
// server's thread writes.
//
// Thread-safety: publish() and finish() may be called from any thread (a run's coordinator thread).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/host_port.h"
#include "dashboard/live_view.h"

namespace stampede::http {
class server;
}

namespace stampede::dashboard {

class server {
 public:
  // Listens at `address` (an IP literal; port 0 picks a free one) from construction to destruction.
  // Throws std::system_error when it cannot listen.
  server(const host_port& address, run_info info);
  // After finish(), when a page asked for events in the last 3 s and has not had the last one yet: waits up
  // to 1.5 s for it to come back for it (EventSource asks again 250 ms after each answer). Then lets replies
  // in flight go out for up to 500 ms, and closes.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // The run's figures now (once a second).
  void publish(live_update update);
  // The run ended; the page says so and links to the report.
  void finish(run_end end);

  uint16_t port() const noexcept;
  std::string url() const;  // "http://127.0.0.1:PORT/"

  struct shared;  // the state, its current event and the requests waiting for the next one

 private:
  host_port address_;
  std::shared_ptr<shared> shared_;
  std::unique_ptr<http::server> server_;
  std::thread ticker_;  // answers requests held too long (shared::tick)
};

// The page (GET /).
std::string page_html();

// A --dashboard value: an IP literal and a port ("127.0.0.1:8089", "[::1]:0"). Throws std::invalid_argument
// naming `flag`.
host_port parse_listen_address(std::string_view text, std::string_view flag);

}  // namespace stampede::dashboard
