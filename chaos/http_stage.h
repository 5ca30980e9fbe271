// The HTTP stage of a connection's upstream direction: while HTTP toxics exist, requests are parsed
// (common/http_parse.h) and each request head is held until complete, so that the request toxics
// (http_abort, http_delay) decide before any byte of the request reaches the server. Bytes that are not
// HTTP/1.1 turn the stage off for the connection and pass unchanged.
// Thread-safety: belongs to one connection's strand.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chaos/toxics/toxic_unit.h"
#include "common/http_parse.h"

namespace stampede::chaos {

class http_stage {
 public:
  using steady = std::chrono::steady_clock;
  using units = std::vector<std::shared_ptr<toxics::toxic_unit>>;

  // Where the stage's output goes (the connection).
  class sink {
   public:
    // Bytes for the upstream, held until `hold_until` unless the toxic `held_by` is gone by then.
    virtual void forward(std::string_view bytes, steady::time_point received, steady::time_point hold_until,
                         const std::shared_ptr<const toxic_spec>& held_by) = 0;
    // A synthetic response for the client (then close the connection if `close_after`).
    virtual void respond(std::string response, bool close_after) = 0;
    // The connection cannot go on (bad bytes inside a swallowed request body): close it.
    virtual void abandon() = 0;

   protected:
    ~sink() = default;
  };

  http_stage();

  bool active() const noexcept { return active_; }
  // HTTP toxics exist: parse from the next read on, assuming it begins a request (true for clients
  // that do not pipeline across the moment the toxic was added).
  void arm();
  // Bytes read from the client. `request_toxics`: the connection's HTTP toxics now; `has_http`: whether
  // the proxy still has any (if not, parsing stops at the next request boundary).
  void feed(std::string_view bytes, steady::time_point now, const units& request_toxics, bool has_http,
            toxics::reporter& log, sink& out);
  // The client closed its side: a request head held back is forwarded as it is.
  void flush(steady::time_point now, sink& out);

 private:
  enum class mode { head, forward_body, drop_body };

  void decide(steady::time_point now, const units& request_toxics, toxics::reporter& log, sink& out);
  void respond(bool close_after, sink& out);

  http::request_parser parser_;
  bool active_ = false;
  bool usable_ = true;  // false once the bytes were not HTTP/1.1
  mode mode_ = mode::head;
  std::string held_;                            // the request head so far
  uint64_t request_index_ = 0;                  // 1, 2, ... on this connection
  std::optional<toxics::request_fault> abort_;  // the answer for the request being swallowed
  steady::time_point hold_until_{};             // http_delay of the request being forwarded
  std::shared_ptr<const toxic_spec> held_by_;
};

}  // namespace stampede::chaos
