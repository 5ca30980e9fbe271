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
#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
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

std::string_view reason_phrase(int status) noexcept {
  const auto phrase = beast_http::obsolete_reason(static_cast<beast_http::status>(status));
  return {phrase.data(), phrase.size()};
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

// One header line as the parsers store it: "Name: value\r\n".
void append_field(std::string& raw, std::string_view name, std::string_view value) {
  raw.append(name.data(), name.size());
  raw.append(": ", 2);
  raw.append(value.data(), value.size());
  raw.append("\r\n", 2);
}

// A Content-Length is only the peer's claim, so reserve at most 1 MiB up front (the body grows as bytes
// really arrive): otherwise every connection of a peer announcing a huge body and sending nothing would
// hold that much memory (hardening fix).
void reserve_body(std::string& body, std::uint64_t content_length) {
  constexpr std::uint64_t max_up_front = 1024 * 1024;
  body.reserve(static_cast<size_t>(std::min(content_length, max_up_front)));
}

// Everything the hooks produce; outlives the per-message Beast parser so string capacities are reused.
struct message_state {
  header_block headers;
  std::string body;
  std::string method;
  std::string target;
  int status = 0;
  int version = 11;
  size_t keep_limit = static_cast<size_t>(-1);  // parse_limits::max_kept_body_bytes
  size_t discarded = 0;                         // body bytes beyond keep_limit, counted and dropped
};

// Appends what fits under the keep limit; counts the rest.
void keep_body(message_state& state, const char* data, size_t size) {
  const size_t room = state.keep_limit - std::min(state.keep_limit, state.body.size());
  const size_t kept = std::min(room, size);
  state.body.append(data, kept);
  state.discarded += size - kept;
}

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
    // Beast hands out trimmed values (obs-folds unfolded).
    append_field(state_.headers.raw, sv(name), sv(value));
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code&) override {
    // Beast already rejected lengths over the body limit.
    if (content_length) reserve_body(state_.body, std::min<std::uint64_t>(*content_length, state_.keep_limit));
  }
  size_t on_body_impl(beast_view body, error_code&) override {
    keep_body(state_, body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast_view, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast_view body, error_code&) override {
    keep_body(state_, body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  message_state& state_;
};

// Shared engine of both parsers.
template <bool is_request>
class engine {
 public:
  explicit engine(parse_limits limits) : limits_(limits) {
    state_.keep_limit = limits.max_kept_body_bytes;
    reset(false);
  }

  void reset(bool skip_body) {
    state_.headers.raw.clear();
    state_.body.clear();
    state_.discarded = 0;
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
    fast_ = fast_state::off;
    start_message();
  }

  void set_fast_path(bool enabled) { fast_enabled_ = enabled; }

  size_t feed(std::span<const char> bytes) {
    if constexpr (!is_request) {
      if (fast_ == fast_state::body) return feed_fast_body(bytes);
      if (fast_ == fast_state::done) return 0;
      if (fast_enabled_ && !skip_body_ && pending_.empty() && !parser_->got_some() && error_ == parse_error::none) {
        if (const size_t head = try_fast_head(bytes); head != 0) {
          return head + feed_fast_body(bytes.subspan(head));
        }
      }
    }
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
    if (fast_ != fast_state::off) {
      if (fast_ == fast_state::body && error_ == parse_error::none) error_ = parse_error::unexpected_eof;
      return;
    }
    if (error_ != parse_error::none || parser_->is_done()) return;
    if (!parser_->got_some() || !parser_->is_header_done()) {
      error_ = parse_error::unexpected_eof;
      return;
    }
    error_code ec;
    parser_->put_eof(ec);
    if (ec) error_ = classify(ec);
  }

  bool header_complete() const noexcept { return fast_ != fast_state::off || parser_->is_header_done(); }
  bool complete() const noexcept {
    return error_ == parse_error::none && (fast_ == fast_state::off ? parser_->is_done() : fast_ == fast_state::done);
  }
  parse_error error() const noexcept { return error_; }
  bool keep_alive() const noexcept {
    if (fast_ != fast_state::off) return fast_keep_alive_;
    return parser_->is_header_done() && parser_->keep_alive();
  }
  bool chunked() const noexcept { return fast_ == fast_state::off && parser_->is_header_done() && parser_->chunked(); }
  size_t wire_bytes() const noexcept { return wire_bytes_; }
  message_state& state() noexcept { return state_; }
  const message_state& state() const noexcept { return state_; }

 private:
  void start_message() {
    parser_.emplace(state_);
    // Not eager until the header is done: put() then stops right after the header, so the bytes it
    // consumed are exactly the header's, and the total header limit can be checked (Beast's own limit
    // applies to the start line and to the field block separately).
    parser_->eager(false);
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
    // The header or the whole message (or an interim response) is complete: what is left unparsed
    // lies within `bytes`.
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
      header_bytes_ += used;
      if (parser_->is_header_done()) {
        header_done_seen_ = true;
        if (header_bytes_ > limits_.max_header_bytes) {
          error_ = parse_error::header_too_large;
          return;
        }
        parser_->eager(true);  // the body may now be parsed in the same put()
        return;
      }
      if (header_bytes_ + pending_.size() > limits_.max_header_bytes) error_ = parse_error::header_too_large;
    } else if (pending_.size() > limits_.max_header_bytes) {
      // A chunk header or trailer line that never ends.
      error_ = parse_error::header_too_large;
    }
  }

  // ---- Fast path for the common response head ----
  // Beast's field parsing (a field-name table lookup per line, generic list parsing, one hook call per
  // field) was a quarter of a load-generator worker's user time. Most responses are plain: HTTP/1.1,
  // a final status with a body, a Content-Length, every line well-formed and in one read. Those are
  // parsed here in one pass; anything else (1xx, 204, 304, HEAD, chunked or close-delimited bodies,
  // obs-folds, lists in Connection, odd bytes, a head split across reads) returns 0 and goes to Beast,
  // which stays the authority. The fuzzers check both paths give identical results.
  enum class fast_state { off, body, done };

  static bool is_tchar(unsigned char c) noexcept {
    static constexpr auto table = [] {
      std::array<bool, 256> t{};
      for (int c = '0'; c <= '9'; ++c) t[c] = true;
      for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
      for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
      for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
      return t;
    }();
    return table[c];
  }
  // Field-value bytes Beast accepts: anything but controls (HTAB is fine) and DEL.
  static bool is_value_char(unsigned char c) noexcept { return (c >= 0x20 && c != 0x7f) || c == '\t'; }
  // True if every byte of [p, end) is a value byte. Eight bytes at a time: a word with no byte below
  // 0x20 and none equal to 0x7f passes at once (the usual case); any other word is checked bytewise.
  static bool all_value_chars(const char* p, const char* end) noexcept {
    constexpr uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    for (; end - p >= 8; p += 8) {
      uint64_t x;
      std::memcpy(&x, p, 8);
      const uint64_t below_space = (x - 0x20 * ones) & ~x & highs;  // a byte < 0x20 (or a false alarm)
      const uint64_t y = x ^ (0x7f * ones);
      const uint64_t del = (y - ones) & ~y & highs;                  // a byte == 0x7f (or a false alarm)
      if ((below_space | del) == 0) continue;
      for (int i = 0; i < 8; ++i) {
        if (!is_value_char(static_cast<unsigned char>(p[i]))) return false;
      }
    }
    for (; p != end; ++p) {
      if (!is_value_char(static_cast<unsigned char>(*p))) return false;
    }
    return true;
  }
  // Case-insensitive match against a lower-case reference made of letters and '-' (for field names
  // and tokens: a byte that could alias through the |0x20 fold, CR, never reaches here).
  static bool equals_lower(std::string_view s, std::string_view lower) noexcept {
    if (s.size() != lower.size()) return false;
    for (size_t i = 0; i < s.size(); ++i) {
      if ((static_cast<unsigned char>(s[i]) | 0x20) != static_cast<unsigned char>(lower[i])) return false;
    }
    return true;
  }

  // Returns the bytes of the head (status line to the empty line) when it was parsed, else 0.
  size_t try_fast_head(std::span<const char> bytes) {
    const char* const begin = bytes.data();
    const size_t limit = std::min(bytes.size(), limits_.max_header_bytes);
    const std::string_view window(begin, limit);
    if (window.size() < 16 || window.compare(0, 9, "HTTP/1.1 ") != 0) return 0;
    const char d0 = window[9], d1 = window[10], d2 = window[11];
    if (d0 < '2' || d0 > '5' || d1 < '0' || d1 > '9' || d2 < '0' || d2 > '9' || window[12] != ' ') return 0;
    const int status = (d0 - '0') * 100 + (d1 - '0') * 10 + (d2 - '0');
    if (status == 204 || status == 304) return 0;
    // Position of the next CR at or after `from`, or window.size().
    auto next_cr = [&](size_t from) -> size_t {
      const void* cr = std::memchr(begin + from, '\r', window.size() - from);
      return cr == nullptr ? window.size() : static_cast<size_t>(static_cast<const char*>(cr) - begin);
    };
    size_t at = next_cr(13);
    if (!all_value_chars(begin + 13, begin + at)) return 0;
    if (at + 1 >= window.size() || window[at + 1] != '\n') return 0;
    at += 2;
    const size_t fields_begin = at;
    std::optional<uint64_t> content_length;
    bool keep_alive = true;
    bool canonical = true;  // every line is exactly "Name: value\r\n": the block is copied as is
    for (;;) {
      if (at + 1 >= window.size()) return 0;  // head incomplete (or over the limit): Beast decides
      if (window[at] == '\r') {
        if (window[at + 1] != '\n') return 0;
        at += 2;
        break;
      }
      const size_t name_begin = at;
      while (at < window.size() && is_tchar(static_cast<unsigned char>(window[at]))) ++at;
      if (at == name_begin || at >= window.size() || window[at] != ':') return 0;
      const std::string_view name = window.substr(name_begin, at - name_begin);
      ++at;
      const size_t after_colon = at;
      while (at < window.size() && (window[at] == ' ' || window[at] == '\t')) ++at;
      const size_t value_begin = at;
      at = next_cr(at);
      if (!all_value_chars(begin + value_begin, begin + at)) return 0;
      // CRLF, and the next line is not an obs-fold continuation.
      if (at + 2 >= window.size() || window[at + 1] != '\n' || window[at + 2] == ' ' || window[at + 2] == '\t') {
        return 0;
      }
      size_t value_end = at;
      while (value_end > value_begin && (window[value_end - 1] == ' ' || window[value_end - 1] == '\t')) --value_end;
      const std::string_view value = window.substr(value_begin, value_end - value_begin);
      at += 2;
      if (value_begin != after_colon + 1 || window[after_colon] != ' ' || value_end != at - 2) canonical = false;
      switch (name.size()) {  // the fields Beast's framing looks at
        case 7:
          if (equals_lower(name, "upgrade")) return 0;
          break;
        case 10:
          if (equals_lower(name, "connection")) {
            if (equals_lower(value, "close")) {
              keep_alive = false;
            } else if (!equals_lower(value, "keep-alive")) {
              return 0;
            }
          }
          break;
        case 14:
          if (equals_lower(name, "content-length")) {
            if (content_length || value.empty() || value.size() > 18) return 0;
            uint64_t n = 0;
            for (char c : value) {
              if (c < '0' || c > '9') return 0;
              n = n * 10 + static_cast<uint64_t>(c - '0');
            }
            content_length = n;
          }
          break;
        case 16:
          if (equals_lower(name, "proxy-connection")) return 0;
          break;
        case 17:
          if (equals_lower(name, "transfer-encoding")) return 0;
          break;
        default:
          break;
      }
    }
    if (!content_length || *content_length > limits_.max_body_bytes) return 0;
    // Accepted: fill in what Beast's hooks would have produced.
    state_.status = status;
    state_.version = 11;
    std::string& raw = state_.headers.raw;
    if (canonical) {
      raw.assign(begin + fields_begin, at - 2 - fields_begin);
    } else {
      // Rewrite the validated lines as the Beast hooks would (values trimmed).
      raw.clear();
      detail::for_each_field_line(std::string_view(begin + fields_begin, at - 2 - fields_begin),
                                  [&](std::string_view name, std::string_view value) { append_field(raw, name, value); });
    }
    fast_keep_alive_ = keep_alive;
    fast_remaining_ = *content_length;
    reserve_body(state_.body, std::min<uint64_t>(fast_remaining_, state_.keep_limit));
    fast_ = fast_remaining_ == 0 ? fast_state::done : fast_state::body;
    wire_bytes_ += at;
    return at;
  }

  size_t feed_fast_body(std::span<const char> bytes) {
    if (fast_ != fast_state::body) return 0;
    const size_t take = static_cast<size_t>(std::min<uint64_t>(fast_remaining_, bytes.size()));
    keep_body(state_, bytes.data(), take);
    fast_remaining_ -= take;
    wire_bytes_ += take;
    if (fast_remaining_ == 0) fast_ = fast_state::done;
    return take;
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
  bool fast_enabled_ = !is_request;
  fast_state fast_ = fast_state::off;
  bool fast_keep_alive_ = true;
  uint64_t fast_remaining_ = 0;
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
void response_parser::set_fast_path(bool enabled) { impl_->core.set_fast_path(enabled); }
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
size_t response_parser::discarded_body_bytes() const noexcept { return impl_->core.state().discarded; }

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
