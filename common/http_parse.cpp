// HTTP/1.1 parsers on Beast's low-level basic_parser (no beast::http::message: the message layer costs
// about 1.8 us per request, basic_parser alone is within a few percent of nodejs http_parser).
//
// Beast parses one element (start line, header line, chunk header, trailer) only when it is contiguous
// in the buffer it is given, and leaves an incomplete element unconsumed. feed() therefore tries the
// caller's bytes in place first (no copy on the fast path), and only copies an incomplete tail into
// `pending_`, prepending it to the next bytes. Since an incomplete tail always belongs to the current
// message, the bytes past the end of a message are always in the caller's most recent span, so feed()
// can return an exact "consumed" count for pipelining.
#include "common/http_parse.h"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cassert>
#include <cstring>
#include <limits>
#include <optional>

namespace stampede::http {

namespace beast_http = boost::beast::http;
using boost::beast::error_code;
using beast_view = boost::beast::string_view;

static std::string_view sv(beast_view v) noexcept { return {v.data(), v.size()}; }

std::string_view to_string(parse_error e) noexcept {
  switch (e) {
    case parse_error::none:
      return "none";
    case parse_error::malformed:
      return "malformed";
    case parse_error::header_too_large:
      return "header_too_large";
    case parse_error::body_too_large:
      return "body_too_large";
    case parse_error::bad_content_length:
      return "bad_content_length";
    case parse_error::unexpected_eof:
      return "unexpected_eof";
  }
  return "unknown";
}

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

parse_error classify(const error_code& ec) noexcept {
  if (ec == beast_http::error::header_limit) return parse_error::header_too_large;
  if (ec == beast_http::error::body_limit) return parse_error::body_too_large;
  if (ec == beast_http::error::bad_content_length || ec == beast_http::error::multiple_content_length)
    return parse_error::bad_content_length;
  if (ec == beast_http::error::partial_message || ec == beast_http::error::end_of_stream)
    return parse_error::unexpected_eof;
  return parse_error::malformed;
}

// Everything the hooks produce; outlives the per-message Beast parser so string capacities are reused.
struct message_state {
  header_block headers;
  std::string body;
  std::string method;
  std::string target;
  int status = 0;
  int version = 11;
  size_t body_limit = 0;
};

template <bool is_request>
class hooks final : public beast_http::basic_parser<is_request> {
 public:
  explicit hooks(message_state& state) : state_(state) {}

 private:
  void on_request_impl(beast_http::verb, beast_view method, beast_view target, int version,
                       error_code&) override {
    state_.method.assign(sv(method));
    state_.target.assign(sv(target));
    state_.version = version;
  }
  void on_response_impl(int code, beast_view, int version, error_code&) override {
    state_.status = code;
    state_.version = version;
  }
  void on_field_impl(beast_http::field, beast_view name, beast_view value, error_code&) override {
    // Beast hands out trimmed values (obs-folds unfolded); we store them as "Name: value\r\n".
    std::string& raw = state_.headers.raw;
    raw.append(name.data(), name.size());
    raw.append(": ", 2);
    raw.append(value.data(), value.size());
    raw.append("\r\n", 2);
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code&) override {
    // Beast already rejected lengths over the body limit. The length is only the peer's claim, so reserve
    // at most 1 MiB up front (the body grows as bytes really arrive): otherwise every connection of a
    // peer announcing a huge body and sending nothing would hold that much memory (hardening fix).
    constexpr std::uint64_t max_up_front = 1024 * 1024;
    if (content_length) state_.body.reserve(static_cast<size_t>(std::min(*content_length, max_up_front)));
  }
  size_t on_body_impl(beast_view body, error_code&) override {
    state_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast_view, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast_view body, error_code&) override {
    state_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  message_state& state_;
};

// Shared engine of both parsers.
template <bool is_request>
class engine {
 public:
  explicit engine(parse_limits limits) : limits_(limits) { reset(false); }

  void reset(bool skip_body) {
    state_.headers.raw.clear();
    state_.body.clear();
    state_.method.clear();
    state_.target.clear();
    state_.status = 0;
    state_.version = 11;
    pending_.clear();
    error_ = parse_error::none;
    wire_bytes_ = 0;
    header_bytes_ = 0;
    header_done_seen_ = false;
    skip_body_ = skip_body;
    start_message();
  }

  size_t feed(std::span<const char> bytes) {
    if (error_ != parse_error::none || parser_->is_done()) return 0;
    size_t consumed_total = 0;
    while (!bytes.empty() && error_ == parse_error::none && !parser_->is_done()) {
      size_t used = pending_.empty() ? feed_direct(bytes) : feed_pending(bytes);
      consumed_total += used;
      bytes = bytes.subspan(used);
      if (error_ == parse_error::none && parser_->is_done() && skip_interim()) continue;
      if (used == 0) break;
    }
    return consumed_total;
  }

  void on_eof() {
    if (error_ != parse_error::none || parser_->is_done()) return;
    if (!parser_->got_some() || !parser_->is_header_done()) {
      error_ = parse_error::unexpected_eof;
      return;
    }
    error_code ec;
    parser_->put_eof(ec);
    if (ec) error_ = classify(ec);
  }

  bool header_complete() const noexcept { return parser_->is_header_done(); }
  bool complete() const noexcept { return error_ == parse_error::none && parser_->is_done(); }
  parse_error error() const noexcept { return error_; }
  bool keep_alive() const noexcept { return parser_->is_header_done() && parser_->keep_alive(); }
  bool chunked() const noexcept { return parser_->is_header_done() && parser_->chunked(); }
  size_t wire_bytes() const noexcept { return wire_bytes_; }
  message_state& state() noexcept { return state_; }
  const message_state& state() const noexcept { return state_; }

 private:
  void start_message() {
    parser_.emplace(state_);
    parser_->eager(true);
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(limits_.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    parser_->body_limit(static_cast<std::uint64_t>(limits_.max_body_bytes));
    if (skip_body_) parser_->skip(true);
  }

  // Fast path: parse straight from the caller's bytes; keep only an incomplete tail.
  size_t feed_direct(std::span<const char> bytes) {
    error_code ec;
    const size_t used = parser_->put(boost::asio::const_buffer(bytes.data(), bytes.size()), ec);
    count_header_bytes(used);
    if (ec == beast_http::error::need_more) {
      // The tail is an incomplete element of this message: take it over.
      pending_.assign(bytes.data() + used, bytes.size() - used);
      count_header_bytes(0);
      wire_bytes_ += bytes.size();
      return bytes.size();
    }
    wire_bytes_ += used;
    if (ec) error_ = classify(ec);
    return used;
  }

  size_t feed_pending(std::span<const char> bytes) {
    const size_t old_size = pending_.size();
    pending_.append(bytes.data(), bytes.size());
    error_code ec;
    const size_t used = parser_->put(boost::asio::const_buffer(pending_.data(), pending_.size()), ec);
    if (ec == beast_http::error::need_more) {
      // Count only after dropping what was parsed: the buffer held this whole read, which may be
      // body bytes far beyond the header limit.
      pending_.erase(0, used);
      count_header_bytes(used);
      wire_bytes_ += bytes.size();
      return bytes.size();
    }
    if (ec) {
      error_ = classify(ec);
      pending_.clear();
      return 0;
    }
    // Message (or interim response) complete: what is left unparsed lies within `bytes`.
    const size_t left = pending_.size() - used;
    assert(used >= old_size && left <= bytes.size());
    (void)old_size;
    pending_.clear();
    count_header_bytes(used);
    wire_bytes_ += bytes.size() - left;
    return bytes.size() - left;
  }

  // Bounds the header (and the buffered tail) ourselves: Beast applies its header limit per put()
  // call, and consumes complete header lines as they come.
  void count_header_bytes(size_t used) {
    if (error_ != parse_error::none) return;
    if (!header_done_seen_) {
      if (parser_->is_header_done()) {
        header_done_seen_ = true;
        return;
      }
      header_bytes_ += used;
      if (header_bytes_ + pending_.size() > limits_.max_header_bytes) error_ = parse_error::header_too_large;
    } else if (pending_.size() > limits_.max_header_bytes) {
      // A chunk header or trailer line that never ends.
      error_ = parse_error::header_too_large;
    }
  }

  // Interim 1xx responses (100 Continue, 103 Early Hints) precede the real response: skip them.
  bool skip_interim() {
    if constexpr (is_request) {
      return false;
    } else {
      if (state_.status < 100 || state_.status >= 200 || state_.status == 101) return false;
      const size_t wire = wire_bytes_;
      reset(skip_body_);
      wire_bytes_ = wire;
      return true;
    }
  }

  parse_limits limits_;
  message_state state_;
  std::optional<hooks<is_request>> parser_;
  std::string pending_;
  parse_error error_ = parse_error::none;
  size_t wire_bytes_ = 0;
  size_t header_bytes_ = 0;
  bool header_done_seen_ = false;
  bool skip_body_ = false;
};

}  // namespace

std::string_view header_block::find(std::string_view name) const noexcept {
  std::string_view found;
  bool seen = false;
  for_each([&](std::string_view n, std::string_view v) {
    if (!seen && iequals(n, name)) {
      found = v;
      seen = true;
    }
  });
  return found;
}

// ---------------------------------------------------------------------------------------------------
struct response_parser::impl {
  explicit impl(parse_limits limits) : core(limits) {}
  engine<false> core;
};

response_parser::response_parser(parse_limits limits) : impl_(std::make_unique<impl>(limits)) {}
response_parser::~response_parser() = default;
response_parser::response_parser(response_parser&&) noexcept = default;
response_parser& response_parser::operator=(response_parser&&) noexcept = default;

void response_parser::reset(bool head_request) { impl_->core.reset(head_request); }
size_t response_parser::feed(std::span<const char> bytes) { return impl_->core.feed(bytes); }
void response_parser::on_eof() { impl_->core.on_eof(); }
bool response_parser::header_complete() const noexcept { return impl_->core.header_complete(); }
bool response_parser::complete() const noexcept { return impl_->core.complete(); }
parse_error response_parser::error() const noexcept { return impl_->core.error(); }
int response_parser::status() const noexcept { return impl_->core.state().status; }
bool response_parser::keep_alive() const noexcept { return impl_->core.keep_alive(); }
bool response_parser::chunked() const noexcept { return impl_->core.chunked(); }
const header_block& response_parser::headers() const noexcept { return impl_->core.state().headers; }
header_block& response_parser::headers() noexcept { return impl_->core.state().headers; }
std::string& response_parser::body() noexcept { return impl_->core.state().body; }
size_t response_parser::wire_bytes() const noexcept { return impl_->core.wire_bytes(); }

// ---------------------------------------------------------------------------------------------------
struct request_parser::impl {
  explicit impl(parse_limits limits) : core(limits) {}
  engine<true> core;
};

request_parser::request_parser(parse_limits limits) : impl_(std::make_unique<impl>(limits)) {}
request_parser::~request_parser() = default;
request_parser::request_parser(request_parser&&) noexcept = default;
request_parser& request_parser::operator=(request_parser&&) noexcept = default;

void request_parser::reset() { impl_->core.reset(false); }
size_t request_parser::feed(std::span<const char> bytes) { return impl_->core.feed(bytes); }
void request_parser::on_eof() { impl_->core.on_eof(); }
bool request_parser::header_complete() const noexcept { return impl_->core.header_complete(); }
bool request_parser::complete() const noexcept { return impl_->core.complete(); }
parse_error request_parser::error() const noexcept { return impl_->core.error(); }
std::string_view request_parser::method() const noexcept { return impl_->core.state().method; }
std::string_view request_parser::target() const noexcept { return impl_->core.state().target; }
int request_parser::version() const noexcept { return impl_->core.state().version; }
bool request_parser::keep_alive() const noexcept { return impl_->core.keep_alive(); }
const header_block& request_parser::headers() const noexcept { return impl_->core.state().headers; }
header_block& request_parser::headers() noexcept { return impl_->core.state().headers; }
std::string& request_parser::body() noexcept { return impl_->core.state().body; }
size_t request_parser::wire_bytes() const noexcept { return impl_->core.wire_bytes(); }

}  // namespace stampede::http
