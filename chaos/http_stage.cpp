#include "chaos/http_stage.h"

#include <span>

namespace stampede::chaos {

http_stage::http_stage()
    : parser_(http::parse_limits{.max_header_bytes = 64 * 1024, .max_body_bytes = 16 * 1024 * 1024}) {}

void http_stage::arm() {
  if (active_ || !usable_) return;
  active_ = true;
  parser_.reset();
  mode_ = mode::head;
}

void http_stage::flush(steady::time_point now, sink& out) {
  if (active_ && usable_ && mode_ == mode::head && !held_.empty()) out.forward(held_, now, {}, nullptr);
  held_.clear();
}

void http_stage::feed(std::string_view bytes, steady::time_point now, const units& request_toxics,
                      bool has_http, toxics::reporter& log, sink& out) {
  while (!bytes.empty()) {
    const size_t used = parser_.feed(std::span<const char>(bytes.data(), bytes.size()));
    const std::string_view part = bytes.substr(0, used);
    bytes.remove_prefix(used);
    if (parser_.error() != http::parse_error::none) {
      if (mode_ == mode::drop_body) {  // cannot resynchronise inside a swallowed request
        out.abandon();
        return;
      }
      // Not HTTP/1.1 (or too large): forward everything unchanged; HTTP faults off for this connection.
      held_.append(part);
      held_.append(bytes);
      out.forward(held_, now, {}, nullptr);
      held_.clear();
      usable_ = false;
      active_ = false;
      return;
    }
    switch (mode_) {
      case mode::head:
        held_.append(part);
        if (parser_.header_complete()) decide(now, request_toxics, log, out);
        break;
      case mode::forward_body:
        out.forward(part, now, hold_until_, held_by_);
        break;
      case mode::drop_body:
        break;
    }
    if (parser_.complete()) {
      if (mode_ == mode::drop_body) respond(!bytes.empty() || !parser_.keep_alive(), out);
      parser_.reset();
      mode_ = mode::head;
      hold_until_ = {};
      held_by_.reset();
      if (!has_http) {  // toxics gone and we are at a request boundary: stop parsing
        active_ = false;
        if (!bytes.empty()) out.forward(bytes, now, {}, nullptr);
        return;
      }
    } else if (used == 0) {
      break;  // the parser takes nothing more from this chunk (should not happen)
    }
  }
}

void http_stage::decide(steady::time_point now, const units& request_toxics, toxics::reporter& log,
                        sink& out) {
  ++request_index_;
  const std::string_view method = parser_.method();
  const std::string_view target = parser_.target();
  steady::duration delay{0};
  std::shared_ptr<const toxic_spec> delayer;
  abort_.reset();
  const toxics::env e{now, log};
  for (const auto& unit : request_toxics) {
    auto fault = unit->on_request(method, target, request_index_, e);
    if (!fault) continue;
    if (fault->what == toxics::request_fault::kind::abort) {
      abort_ = std::move(fault);
      break;
    }
    delay += fault->delay;
    delayer = unit->version();
  }
  if (abort_) {
    held_.clear();
    mode_ = mode::drop_body;
    return;
  }
  hold_until_ = delay > steady::duration::zero() ? now + delay : steady::time_point{};
  held_by_ = std::move(delayer);
  out.forward(held_, now, hold_until_, held_by_);
  held_.clear();
  mode_ = mode::forward_body;
}

void http_stage::respond(bool close_after, sink& out) {
  const toxics::request_fault fault = std::move(*abort_);
  abort_.reset();
  const std::string reason(http::reason_phrase(fault.status));
  const std::string body = fault.body.empty() ? reason + "\n" : fault.body;
  std::string response = "HTTP/1.1 " + std::to_string(fault.status) + " " + reason +
                         "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\nX-Stampede-Fault: " + fault.toxic + "\r\n";
  if (close_after) response += "Connection: close\r\n";
  response += "\r\n";
  response += body;
  out.respond(std::move(response), close_after);
}

}  // namespace stampede::chaos
