// Incremental HTTP/1.1 parsers for untrusted bytes: responses (load generator, clients) and
// requests (shop, proxy's HTTP-aware faults, control APIs). Bytes are fed as they arrive, in any
// split; bytes past the end of one message are left unconsumed for the next (pipelining).
//
// Limits are enforced while parsing, so a hostile peer cannot make memory grow without bound.
// Thread-safety: none; one parser per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "common/text.h"

namespace stampede::http {

struct parse_limits {
  size_t max_header_bytes = 64 * 1024;       // status/request line + all header lines
  size_t max_body_bytes = 64 * 1024 * 1024;  // decoded body (after de-chunking)
  // Decoded body bytes kept in body(); the rest is parsed, counted (discarded_body_bytes()) and dropped,
  // so a client that only needs the start of a body, or none of it (0), holds no more than this.
  size_t max_kept_body_bytes = static_cast<size_t>(-1);
};

enum class parse_error {
  none = 0,
  malformed,           // syntax error in start line, headers or chunked framing
  header_too_large,    // max_header_bytes exceeded
  body_too_large,      // max_body_bytes exceeded (or Content-Length announcing more)
  bad_content_length,  // invalid or conflicting Content-Length
  unexpected_eof,      // stream closed inside a message
};
std::string_view to_string(parse_error) noexcept;

// The reason phrase of a status code, from Beast's table (boost::beast::http::obsolete_reason), for every
// status line we write (server, fault proxy): "Payload Too Large" for 413, and Beast's "<unknown-status>"
// for a code it does not know (420).
std::string_view reason_phrase(int status) noexcept;

// Parsed header block. `raw` holds one "Name: value\r\n" line per received field, in order, with the
// name as received and the value as received minus surrounding whitespace (obs-folds are unfolded);
// without the start line and the final empty line. find() does a case-insensitive lookup of the
// first match.
struct header_block {
  std::string raw;
  std::string_view find(std::string_view name) const noexcept;  // empty if absent
  // Calls f(name, value) for every header line, in order.
  template <class F>
  void for_each(F&& f) const;
};

class response_parser {
 public:
  explicit response_parser(parse_limits limits = {});
  ~response_parser();
  response_parser(response_parser&&) noexcept;
  response_parser& operator=(response_parser&&) noexcept;

  // Prepares for the next response. `head_request` = the request was HEAD (no body follows).
  // Interim 1xx responses (100 Continue, 103 Early Hints; not 101) are skipped transparently: their
  // bytes count in wire_bytes() and the parser goes on with the final response.
  void reset(bool head_request = false);
  // Plain responses (HTTP/1.1, Content-Length, well-formed head in one read) take a fast path by
  // default; off, every byte goes through Beast's parser. The results are identical either way
  // (checked by the fuzzers); the switch exists for that check and for benchmarks.
  void set_fast_path(bool enabled);

  // Consumes a prefix of `bytes`; returns how many were consumed. After complete() is true the rest
  // belongs to the next message. On error, `error()` is set and nothing more is consumed.
  size_t feed(std::span<const char> bytes);
  // The peer closed the stream: completes a close-delimited body, otherwise sets unexpected_eof.
  void on_eof();

  bool header_complete() const noexcept;
  bool complete() const noexcept;
  parse_error error() const noexcept;

  int status() const noexcept;
  bool keep_alive() const noexcept;  // HTTP/1.1 default keep-alive, "Connection: close" => false
  bool chunked() const noexcept;
  const header_block& headers() const noexcept;
  header_block& headers() noexcept;    // e.g. to swap `raw` out after complete(); reset() clears it
  std::string& body() noexcept;        // decoded body; may be moved out after complete()
  size_t wire_bytes() const noexcept;  // bytes consumed for this message (headers + framing + body)
  // Decoded body bytes of this message beyond max_kept_body_bytes (not in body()).
  size_t discarded_body_bytes() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

class request_parser {
 public:
  explicit request_parser(parse_limits limits = {});
  ~request_parser();
  request_parser(request_parser&&) noexcept;
  request_parser& operator=(request_parser&&) noexcept;

  void reset();
  size_t feed(std::span<const char> bytes);
  void on_eof();

  bool header_complete() const noexcept;
  bool complete() const noexcept;
  parse_error error() const noexcept;

  std::string_view method() const noexcept;  // as sent, e.g. "GET"
  std::string_view target() const noexcept;  // request-target, e.g. "/api/products?q=x"
  int version() const noexcept;              // 10 or 11
  bool keep_alive() const noexcept;
  const header_block& headers() const noexcept;
  header_block& headers() noexcept;  // e.g. to swap `raw` out after complete(); reset() clears it
  std::string& body() noexcept;      // decoded body; may be moved out after complete()
  size_t wire_bytes() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// ---- template implementation ----
namespace detail {
// Calls f(name, value) for every "Name: value\r\n" line of `block`, the value trimmed of SP/HTAB.
template <class F>
void for_each_field_line(std::string_view block, F&& f) {
  std::string_view rest = block;
  while (!rest.empty()) {
    const size_t eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    f(line.substr(0, colon), stampede::trim(line.substr(colon + 1), " \t"));
  }
}
}  // namespace detail

template <class F>
void header_block::for_each(F&& f) const {
  detail::for_each_field_line(raw, std::forward<F>(f));
}

}  // namespace stampede::http
