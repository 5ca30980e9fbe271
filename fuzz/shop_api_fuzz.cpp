// Fuzzes the shop node's whole request path in-process: raw bytes -> request_parser (the node's limits)
// -> node::handle -> response. Hostile requests must get a 4xx (or 2xx) with a JSON body, never a crash,
// never a 500 (5xx is reserved for the shop's own trouble), never a non-JSON error. A session and the
// admin token are known to the fuzzer (see the corpus), so authenticated endpoints and JSON bodies are
// reached; POST /api/admin/reset is skipped (a reseed per input would make fuzzing crawl).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "common/http_parse.h"
#include "common/http_server.h"
#include "reference_shop/node.h"

namespace {

using namespace stampede;

constexpr const char* session_token = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

struct fixture {
  std::filesystem::path dir;
  std::unique_ptr<shop::node> node;

  fixture() {
    std::string pattern = (std::filesystem::temp_directory_path() / "stampede-shop-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    dir = pattern;
    shop::node_options o;
    o.name = "fuzz";
    o.db_path = (dir / "shop.db").string();
    o.threads = 1;
    o.admin_token = "fuzz-admin-token";
    o.kdf = shop::kdf_cost::minimal;
    o.seed_scale = 1;
    node = std::make_unique<shop::node>(o);
    const auto user = node->database().create_user("fuzzer@shop.test", "Fuzzer", "not-a-hash");
    if (!user) std::abort();
    node->database().create_session(session_token, *user, INT64_MAX / 2);
  }
  ~fixture() {
    node.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

fixture& shared_fixture() {
  static fixture f;  // built once per fuzzing process; the database persists between inputs
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fixture& f = shared_fixture();
  http::request_parser parser(http::parse_limits{.max_header_bytes = 16 * 1024, .max_body_bytes = 64 * 1024});
  std::span<const char> rest(reinterpret_cast<const char*>(data), size);
  for (int messages = 0; !rest.empty() && messages < 4; ++messages) {  // pipelined requests, as the server
    const size_t used = parser.feed(rest);
    rest = rest.subspan(used);
    if (rest.empty() && !parser.complete()) parser.on_eof();
    if (!parser.complete()) return 0;  // malformed or incomplete: the server answers 400 itself
    http::request request;
    request.method = std::string(parser.method());
    request.target = std::string(parser.target());
    request.version = parser.version();
    request.keep_alive = parser.keep_alive();
    std::swap(request.headers.raw, parser.headers().raw);
    std::swap(request.body, parser.body());
    request.remote_address = "127.0.0.1";
    parser.reset();
    if (request.path().find("reset") != std::string_view::npos) continue;
    const http::response response = f.node->handle(request);
    if (response.status < 200 || response.status > 599) std::abort();
    if (response.status >= 500 && response.status != 503) std::abort();  // a bug, not the client's fault
    if (response.content_type == "application/json") {
      boost::system::error_code ec;
      (void)boost::json::parse(response.body, ec);
      if (ec) std::abort();
    }
  }
  return 0;
}
