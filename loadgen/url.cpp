#include "loadgen/url.h"

#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>

namespace stampede::loadgen {

namespace urls = boost::urls;

namespace {

// Whether a '%' at `i` starts an escape ("%2F"); a lone one ("?off=10%") is itself encoded.
bool escape_follows(std::string_view url, size_t i) {
  return i + 2 < url.size() && std::isxdigit(static_cast<unsigned char>(url[i + 1])) &&
         std::isxdigit(static_cast<unsigned char>(url[i + 2]));
}

// Percent-encodes the bytes RFC 3986 allows nowhere in a URL, and "[" "]" after the authority (only an
// IPv6 literal may hold them), so that URLs scripts commonly write ("?ids[]=1", "?q=a b") still parse.
std::string escape_unsafe(std::string_view url) {
  static constexpr char hex[] = "0123456789ABCDEF";
  size_t authority_end = 0;  // where the path starts: brackets before it belong to an IPv6 host
  if (const size_t scheme = url.find("://"); scheme != std::string_view::npos && !url.starts_with('/')) {
    authority_end = url.find_first_of("/?#", scheme + 3);
    if (authority_end == std::string_view::npos) authority_end = url.size();
  }
  std::string out;
  out.reserve(url.size() + 16);
  for (size_t i = 0; i < url.size(); ++i) {
    const auto c = static_cast<unsigned char>(url[i]);
    const bool unsafe = c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' ||
                        c == '`' || c == '{' || c == '|' || c == '}' ||
                        (i >= authority_end && (c == '[' || c == ']')) ||
                        (c == '%' && !escape_follows(url, i));
    if (!unsafe) {
      out += static_cast<char>(c);
      continue;
    }
    out += '%';
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

std::string quoted(std::string_view url) { return "'" + std::string(url) + "'"; }

std::optional<parsed_url> parse_relative(std::string_view url, std::string_view original,
                                         const parsed_url* base, std::string& error) {
  if (base == nullptr) {
    error = "relative URL " + quoted(original) + " but no target is set (options.target or --target)";
    return std::nullopt;
  }
  const auto ref = urls::parse_relative_ref(url);
  if (!ref || ref->has_authority()) {
    error = "bad URL " + quoted(original) +
            (ref ? ": a path must not start with //" : ": " + ref.error().message());
    return std::nullopt;
  }
  parsed_url out;
  out.tls = base->tls;
  out.host = base->host;
  out.port = base->port;
  out.path = ref->encoded_target();
  return out;
}

}  // namespace

std::string parsed_url::origin_key() const {
  std::string key = tls ? "https://" : "http://";
  key += host;
  key += ':';
  key += std::to_string(port);
  return key;
}

void parsed_url::append_host_header(std::string& out) const {
  const bool ipv6 = host.find(':') != std::string::npos;
  if (ipv6) out += '[';
  out += host;
  if (ipv6) out += ']';
  if (port != (tls ? 443 : 80)) {
    char text[8];
    auto [end, ec] = std::to_chars(text, text + sizeof text, port);
    out += ':';
    out.append(text, end);
  }
}

std::optional<parsed_url> parse_url(std::string_view original, const parsed_url* base, std::string& error) {
  const std::string escaped = escape_unsafe(original);
  const std::string_view url = escaped;
  if (!url.empty() && url.front() == '/') return parse_relative(url, original, base, error);
  const auto parsed = urls::parse_uri(url);
  if (!parsed) {
    const bool has_scheme = url.find("://") != std::string_view::npos;
    error = has_scheme ? "bad URL " + quoted(original) + ": " + parsed.error().message()
                       : "unsupported URL " + quoted(original) +
                             " (expected http://, https:// or a path starting with /)";
    return std::nullopt;
  }
  const urls::url_view& u = *parsed;
  parsed_url out;
  if (u.scheme_id() == urls::scheme::https) {
    out.tls = true;
    out.port = 443;
  } else if (u.scheme_id() != urls::scheme::http) {
    error = "unsupported URL " + quoted(original) + " (expected http://, https:// or a path starting with /)";
    return std::nullopt;
  }
  if (u.has_userinfo()) {
    error = "credentials in URLs are not supported: " + quoted(original);
    return std::nullopt;
  }
  switch (u.host_type()) {
    case urls::host_type::ipv6:
    case urls::host_type::ipv4:
      out.host = u.encoded_host_address();  // an IPv6 literal without its brackets
      break;
    case urls::host_type::name:
      out.host = u.host();
      break;
    default:
      out.host.clear();
      break;
  }
  if (out.host.empty() || u.host_type() == urls::host_type::ipvfuture) {
    error = (u.host_type() == urls::host_type::ipvfuture ? "bad host in " : "missing host in ") +
            quoted(original);
    return std::nullopt;
  }
  if (const std::string_view port = u.port(); !port.empty()) {
    unsigned number = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc{} || end != port.data() + port.size() || number == 0 || number > 65535) {
      error = "bad port in " + quoted(original);
      return std::nullopt;
    }
    out.port = static_cast<uint16_t>(number);
  }
  out.path = u.encoded_target();
  if (out.path.empty() || out.path.front() != '/') out.path.insert(0, "/");  // "http://h?x" asks for "/?x"
  return out;
}

}  // namespace stampede::loadgen
