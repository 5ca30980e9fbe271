#include "chaos/toxics/catalogue.h"

#include <array>
#include <cassert>

namespace stampede::chaos::toxics {
namespace {

constexpr std::array<catalogue_entry, 12> catalogue{{
    {toxic_type::timeout, scope::stream, 10, make_timeout},
    {toxic_type::reset_peer, scope::stream, 20, make_reset_peer},
    {toxic_type::packet_loss, scope::stream, 30, make_packet_loss},
    {toxic_type::latency, scope::stream, 40, make_latency},
    {toxic_type::limit_data, scope::stream, 50, make_limit_data},
    {toxic_type::slicer, scope::stream, 60, make_slicer},
    {toxic_type::bandwidth, scope::stream, 70, make_bandwidth},
    {toxic_type::slow_close, scope::stream, 80, make_slow_close},
    {toxic_type::limit_time, scope::connection, 0, make_limit_time},
    {toxic_type::slow_open, scope::connection, 0, make_slow_open},
    {toxic_type::http_abort, scope::request, 0, make_http_abort},
    {toxic_type::http_delay, scope::request, 0, make_http_delay},
}};

constexpr bool scopes_match_toxic_h() {
  for (const auto& e : catalogue) {
    if ((e.scope == scope::request) != is_http_toxic(e.type)) return false;
    if ((e.scope == scope::connection) != is_connection_toxic(e.type)) return false;
  }
  return true;
}
static_assert(scopes_match_toxic_h(), "catalogue scopes disagree with chaos/toxic.h");

}  // namespace

const catalogue_entry& entry(toxic_type type) noexcept {
  for (const auto& e : catalogue) {
    if (e.type == type) return e;
  }
  assert(false && "toxic type missing from the catalogue");
  return catalogue.front();
}

}  // namespace stampede::chaos::toxics
