#include "chaos/api.h"

#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <ctime>

#include "chaos/json_text.h"
#include "common/duration.h"
#include "common/prometheus_text.h"
#include "common/version.h"

namespace stampede::chaos {

namespace json = boost::json;

namespace {

[[noreturn]] void bad(const std::string& message) { throw chaos_error(error_kind::invalid_argument, message); }

json::value parse_body(std::string_view body) {
  boost::system::error_code ec;
  json::parse_options opt;
  opt.max_depth = 32;
  json::value v = json::parse(body, ec, {}, opt);
  if (ec) bad("bad request body: invalid JSON (" + ec.message() + ")");
  return v;
}

const json::object& as_object(const json::value& v, std::string_view what) {
  if (!v.is_object()) bad(std::string(what) + " must be a JSON object");
  return v.get_object();
}

std::string get_string(const json::object& o, std::string_view key, std::string_view fallback = {}) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::string(fallback);
  if (!v->is_string()) bad("field '" + std::string(key) + "' must be a string");
  return std::string(v->get_string());
}

double to_double(const json::value& v, std::string_view key) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double()) return v.get_double();
  bad("field '" + std::string(key) + "' must be a number");
}

int64_t to_int(const json::value& v, std::string_view key) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<uint64_t>(INT64_MAX)) bad("field '" + std::string(key) + "' is too large");
    return static_cast<int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (!std::isfinite(d) || std::fabs(d) > 9e15) bad("field '" + std::string(key) + "' is out of range");
    return static_cast<int64_t>(std::llround(d));
  }
  bad("field '" + std::string(key) + "' must be an integer");
}

// Milliseconds: a number (Toxiproxy) or, as an extension, a duration string such as "250ms" or "2s".
int64_t to_ms(const json::value& v, std::string_view key) {
  if (v.is_string()) {
    auto d = try_parse_duration(std::string_view(v.get_string()));
    if (!d) bad("attribute '" + std::string(key) + "' is not a duration (e.g. 250, \"250ms\", \"2s\")");
    return std::chrono::duration_cast<std::chrono::milliseconds>(*d).count();
  }
  return to_int(v, key);
}

bool to_bool(const json::value& v, std::string_view key) {
  if (!v.is_bool()) bad("field '" + std::string(key) + "' must be true or false");
  return v.get_bool();
}

std::string to_text(const json::value& v, std::string_view key) {
  if (!v.is_string()) bad("attribute '" + std::string(key) + "' must be a string");
  return std::string(v.get_string());
}

void apply_attribute(toxic_spec& t, std::string_view key, const json::value& v) {
  using tt = toxic_type;
  const tt type = t.type;
  auto is = [&](std::initializer_list<tt> types) {
    for (tt x : types) {
      if (x == type) return true;
    }
    return false;
  };
  if (key == "latency" && is({tt::latency})) {
    t.latency = to_ms(v, key);
  } else if (key == "jitter" && is({tt::latency})) {
    t.jitter = to_ms(v, key);
  } else if (key == "distribution" && is({tt::latency})) {
    auto d = parse_distribution(to_text(v, key));
    if (!d) bad("attribute 'distribution' must be uniform, normal, lognormal or pareto");
    t.distribution = *d;
  } else if (key == "sigma" && is({tt::latency})) {
    t.sigma = to_double(v, key);
  } else if (key == "alpha" && is({tt::latency})) {
    t.alpha = to_double(v, key);
  } else if (key == "max_latency" && is({tt::latency})) {
    t.max_latency = to_ms(v, key);
  } else if (key == "rate" && is({tt::bandwidth})) {
    t.rate = to_int(v, key);
  } else if (key == "delay" && is({tt::slow_close, tt::slow_open, tt::http_delay})) {
    t.delay = to_ms(v, key);
  } else if (key == "delay" && is({tt::slicer})) {
    t.delay = to_int(v, key);  // microseconds, as Toxiproxy
  } else if (key == "timeout" && is({tt::timeout, tt::reset_peer})) {
    t.timeout = to_ms(v, key);
  } else if (key == "average_size" && is({tt::slicer})) {
    t.average_size = to_int(v, key);
  } else if (key == "size_variation" && is({tt::slicer})) {
    t.size_variation = to_int(v, key);
  } else if (key == "bytes" && is({tt::limit_data})) {
    t.bytes = to_int(v, key);
  } else if (key == "time" && is({tt::limit_time})) {
    t.time = to_ms(v, key);
  } else if (key == "reset" && is({tt::limit_time})) {
    t.reset = to_bool(v, key);
  } else if (key == "probability" && is({tt::packet_loss})) {
    t.probability = to_double(v, key);
  } else if (key == "correlation" && is({tt::packet_loss})) {
    t.correlation = to_double(v, key);
  } else if (key == "method" && is({tt::http_abort, tt::http_delay})) {
    t.method = to_text(v, key);
  } else if (key == "path" && is({tt::http_abort, tt::http_delay})) {
    t.path = to_text(v, key);
  } else if (key == "first_n" && is({tt::http_abort, tt::http_delay})) {
    t.first_n = to_int(v, key);
  } else if (key == "status" && is({tt::http_abort})) {
    t.status = static_cast<int>(std::clamp<int64_t>(to_int(v, key), -1, 1000));
  } else if (key == "body" && is({tt::http_abort})) {
    t.body = to_text(v, key);
  } else {
    bad("unknown attribute '" + std::string(key) + "' for toxic type " + std::string(to_string(type)));
  }
}

// A proxy's connection cap: 0 (= the server's default) .. 1,000,000.
size_t to_max_connections(const json::value& v) {
  const int64_t n = to_int(v, "max_connections");
  if (n < 0 || n > 1'000'000) bad("field 'max_connections' must be between 0 and 1000000");
  return static_cast<size_t>(n);
}

toxic_spec toxic_from(const json::object& o, const toxic_spec* base) {
  toxic_spec t = base ? *base : toxic_spec{};
  if (!base) {
    const std::string type = get_string(o, "type");
    if (type.empty()) bad("missing required field: type");
    auto parsed = parse_toxic_type(type);
    if (!parsed) bad("invalid toxic type: " + type);
    t.type = *parsed;
    t.stream = is_http_toxic(t.type) ? stream_direction::upstream : stream_direction::downstream;
    t.name = get_string(o, "name");
  } else if (const json::value* type = o.if_contains("type"); type && !type->is_null()) {
    if (!type->is_string() || parse_toxic_type(std::string_view(type->get_string())) != base->type) {
      bad("a toxic's type cannot change; remove and add it");
    }
  }
  if (const json::value* s = o.if_contains("stream"); s && !s->is_null()) {
    if (!s->is_string()) bad("field 'stream' must be a string");
    auto parsed = parse_stream(std::string_view(s->get_string()));
    if (!parsed) bad("invalid stream: must be upstream, downstream or both");
    t.stream = *parsed;
  }
  if (const json::value* v = o.if_contains("toxicity"); v && !v->is_null()) t.toxicity = to_double(*v, "toxicity");
  if (const json::value* a = o.if_contains("attributes"); a && !a->is_null()) {
    for (const auto& [key, value] : as_object(*a, "attributes")) apply_attribute(t, key, value);
  }
  try {
    t.validate_and_normalize();
  } catch (const invalid_toxic& e) {
    bad(e.what());
  }
  return t;
}

json::object toxic_object(const toxic_spec& t) {
  json::object attrs;
  switch (t.type) {
    case toxic_type::latency:
      attrs["latency"] = t.latency;
      attrs["jitter"] = t.jitter;
      if (t.distribution != latency_distribution::uniform) {
        attrs["distribution"] = to_string(t.distribution);
        if (t.distribution == latency_distribution::lognormal) attrs["sigma"] = t.sigma;
        if (t.distribution == latency_distribution::pareto) attrs["alpha"] = t.alpha;
      }
      if (t.max_latency > 0) attrs["max_latency"] = t.max_latency;
      break;
    case toxic_type::bandwidth: attrs["rate"] = t.rate; break;
    case toxic_type::slow_close:
    case toxic_type::slow_open: attrs["delay"] = t.delay; break;
    case toxic_type::timeout:
    case toxic_type::reset_peer: attrs["timeout"] = t.timeout; break;
    case toxic_type::slicer:
      attrs["average_size"] = t.average_size;
      attrs["size_variation"] = t.size_variation;
      attrs["delay"] = t.delay;
      break;
    case toxic_type::limit_data: attrs["bytes"] = t.bytes; break;
    case toxic_type::limit_time:
      attrs["time"] = t.time;
      attrs["reset"] = t.reset;
      break;
    case toxic_type::packet_loss:
      attrs["probability"] = t.probability;
      attrs["correlation"] = t.correlation;
      break;
    case toxic_type::http_abort:
    case toxic_type::http_delay:
      attrs["method"] = t.method;
      attrs["path"] = t.path;
      attrs["first_n"] = t.first_n;
      if (t.type == toxic_type::http_abort) {
        attrs["status"] = t.status;
        attrs["body"] = t.body;
      } else {
        attrs["delay"] = t.delay;
      }
      break;
  }
  json::object o;
  o["name"] = t.name;
  o["type"] = to_string(t.type);
  o["stream"] = to_string(t.stream);
  o["toxicity"] = t.toxicity;
  o["attributes"] = std::move(attrs);
  return o;
}

json::object proxy_object(const proxy_info& p) {
  json::object o;
  o["name"] = p.config.name;
  o["listen"] = p.config.listen;
  o["upstream"] = p.config.upstream;
  o["enabled"] = p.config.enabled;
  o["max_connections"] = p.config.max_connections;  // extension (Toxiproxy has no cap)
  json::array toxics;
  for (const auto& t : p.toxics) toxics.push_back(toxic_object(t));
  o["toxics"] = std::move(toxics);
  return o;
}

proxy_config proxy_from(const json::object& o) {
  proxy_config c;
  c.name = get_string(o, "name");
  c.listen = get_string(o, "listen", "127.0.0.1:0");
  c.upstream = get_string(o, "upstream");
  if (c.name.empty()) bad("missing required field: name");
  if (c.upstream.empty()) bad("missing required field: upstream");
  if (const json::value* e = o.if_contains("enabled"); e && !e->is_null()) c.enabled = to_bool(*e, "enabled");
  if (const json::value* m = o.if_contains("max_connections"); m && !m->is_null()) {
    c.max_connections = to_max_connections(*m);
  }
  return c;
}

http::response json_response(int status, const json::value& v) { return http::response::json(status, to_json_text(v)); }

http::response error_response(int status, std::string_view message) {
  json::object o;
  o["error"] = message;
  o["status"] = status;
  return json_response(status, o);
}

int status_of(error_kind kind) {
  switch (kind) {
    case error_kind::invalid_argument: return 400;
    case error_kind::not_found: return 404;
    case error_kind::already_exists: return 409;
    case error_kind::io_error: return 500;
  }
  return 500;
}

http::response no_content() {
  http::response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    if (path.empty()) break;
    const size_t slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
  }
  return parts;
}

bool is_loopback(std::string_view address) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(address), ec);
  if (ec) return false;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()).is_loopback();
  return a.is_loopback();
}

class api {
 public:
  api(proxy_server& server, api_options options) : server_(server), options_(options) {}

  // Constant-time comparison, so the response time does not leak how much of the token matched.
  bool token_matches(std::string_view authorization) const {
    constexpr std::string_view prefix = "Bearer ";
    if (options_.token.empty() || !authorization.starts_with(prefix)) return false;
    const std::string_view given = authorization.substr(prefix.size());
    if (given.size() != options_.token.size()) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < given.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ options_.token[i]);
    return diff == 0;
  }

  http::response operator()(http::request& req) {
    try {
      if (req.header("User-Agent").starts_with("Mozilla/")) {
        return error_response(403, "User agent not allowed");  // browsers: CSRF guard, as Toxiproxy
      }
      const bool remote = !req.remote_address.empty() && !is_loopback(req.remote_address);
      if (remote && !options_.allow_remote) {
        return error_response(403, "remote clients not allowed (start with --allow-remote)");
      }
      if (remote && !token_matches(req.header("Authorization"))) {
        return error_response(401, "remote clients need Authorization: Bearer <token> (--api-token)");
      }
      return route(req);
    } catch (const chaos_error& e) {
      return error_response(status_of(e.kind()), e.what());
    } catch (const std::exception& e) {
      return error_response(500, e.what());
    }
  }

 private:
  http::response route(http::request& req) {
    const auto parts = split_path(req.path());
    const std::string_view m = req.method;
    const bool get = m == "GET", post = m == "POST", del = m == "DELETE", patch = m == "PATCH";
    const size_t n = parts.size();
    if (n == 1 && parts[0] == "version" && get) {
      return json_response(200, json::object{{"version", stampede::version}, {"implementation", "stampede"}});
    }
    if (n == 1 && parts[0] == "reset" && post) {
      server_.reset();
      return no_content();
    }
    if (n == 1 && parts[0] == "populate" && post) return populate(req);
    if (n == 1 && parts[0] == "injections" && get) return injections(req);
    if (n == 1 && parts[0] == "metrics" && get) return metrics();
    if (n >= 1 && parts[0] == "proxies") {
      if (n == 1 && get) {
        json::object all;
        for (const auto& p : server_.proxies()) all[p.config.name] = proxy_object(p);
        return json_response(200, all);
      }
      if (n == 1 && post) {
        auto info = server_.add_proxy(proxy_from(as_object(parse_body(req.body), "proxy")));
        return json_response(201, proxy_object(info));
      }
      if (n == 1) return method_not_allowed();
      const std::string name(parts[1]);
      if (n == 2 && get) return json_response(200, proxy_object(must_proxy(name)));
      if (n == 2 && (post || patch)) {
        const json::value parsed = parse_body(req.body);
        const auto& o = as_object(parsed, "proxy");
        std::optional<std::string> listen, upstream;
        std::optional<bool> enabled;
        std::optional<size_t> max_connections;
        if (auto* v = o.if_contains("listen"); v && !v->is_null()) listen = get_string(o, "listen");
        if (auto* v = o.if_contains("upstream"); v && !v->is_null()) upstream = get_string(o, "upstream");
        if (auto* v = o.if_contains("enabled"); v && !v->is_null()) enabled = to_bool(*v, "enabled");
        if (auto* v = o.if_contains("max_connections"); v && !v->is_null()) max_connections = to_max_connections(*v);
        return json_response(200,
                             proxy_object(server_.update_proxy(name, listen, upstream, enabled, max_connections)));
      }
      if (n == 2 && del) {
        server_.remove_proxy(name);
        return no_content();
      }
      if (n == 2) return method_not_allowed();
      if (parts[2] != "toxics" || n > 4) return not_found();
      if (n == 3 && get) {
        json::array list;
        for (const auto& t : server_.toxics(name)) list.push_back(toxic_object(t));
        return json_response(200, list);
      }
      if (n == 3 && post) {
        must_proxy(name);  // 404 before 400, as Toxiproxy
        auto added = server_.add_toxic(name, toxic_from(as_object(parse_body(req.body), "toxic"), nullptr));
        return json_response(200, toxic_object(added));
      }
      if (n == 3) return method_not_allowed();
      const std::string toxic(parts[3]);
      if (get) return json_response(200, toxic_object(must_toxic(name, toxic)));
      if (post || patch) {
        const toxic_spec base = must_toxic(name, toxic);
        auto updated = toxic_from(as_object(parse_body(req.body), "toxic"), &base);
        updated.name = base.name;  // the path names the toxic
        return json_response(200, toxic_object(server_.update_toxic(name, updated)));
      }
      if (del) {
        server_.remove_toxic(name, toxic);
        return no_content();
      }
      return method_not_allowed();
    }
    return not_found();
  }

  // Prometheus text format. Toxiproxy's byte counters under its names (what its dashboards read), then
  // what Toxiproxy lacks: connections, and injections per toxic (including removed toxics).
  http::response metrics() {
    using prometheus::metric_type;
    prometheus::text_writer out;
    const auto all = server_.proxies();
    auto bytes = [&](std::string_view name, const proxy_info& p, std::string_view direction, uint64_t value) {
      out.sample(name,
                 {{"direction", direction},
                  {"listener", p.config.listen},
                  {"proxy", p.config.name},
                  {"upstream", p.config.upstream}},
                 value);
    };
    out.family("toxiproxy_proxy_received_bytes_total", metric_type::counter,
               "Bytes read by the proxy, per direction.");
    for (const auto& p : all) {
      bytes("toxiproxy_proxy_received_bytes_total", p, "upstream", p.received_upstream);
      bytes("toxiproxy_proxy_received_bytes_total", p, "downstream", p.received_downstream);
    }
    out.family("toxiproxy_proxy_sent_bytes_total", metric_type::counter,
               "Bytes written by the proxy, per direction.");
    for (const auto& p : all) {
      bytes("toxiproxy_proxy_sent_bytes_total", p, "upstream", p.bytes_upstream);
      bytes("toxiproxy_proxy_sent_bytes_total", p, "downstream", p.bytes_downstream);
    }
    auto per_proxy = [&](std::string_view name, metric_type type, std::string_view help, auto field) {
      out.family(name, type, help);
      for (const auto& p : all) out.sample(name, {{"proxy", p.config.name}}, field(p));
    };
    per_proxy("stampede_proxy_connections_accepted_total", metric_type::counter,
              "Client connections accepted.", [](const proxy_info& p) { return p.connections_accepted; });
    per_proxy("stampede_proxy_connections_active", metric_type::gauge, "Client connections open now.",
              [](const proxy_info& p) { return p.connections_active; });
    per_proxy("stampede_proxy_connections_refused_total", metric_type::counter,
              "Connections closed because the upstream was unreachable.",
              [](const proxy_info& p) { return p.connections_refused; });
    per_proxy("stampede_proxy_connections_rejected_total", metric_type::counter,
              "Connections closed at once: the proxy was at max_connections (or the server at its descriptor "
              "budget).",
              [](const proxy_info& p) { return p.connections_rejected; });
    per_proxy("stampede_proxy_spliced_bytes_total", metric_type::counter,
              "Bytes forwarded with splice(2), zero copy (both directions; part of the sent bytes).",
              [](const proxy_info& p) { return p.bytes_spliced; });
    per_proxy("stampede_proxy_max_connections", metric_type::gauge, "The proxy's cap on open connections.",
              [](const proxy_info& p) { return static_cast<uint64_t>(p.config.max_connections); });
    out.family(
        "stampede_proxy_toxic_injections_total", metric_type::counter,
        "Faults injected per toxic: connections that rolled it (TCP toxics) or requests hit (HTTP toxics).");
    for (const auto& [key, count] : server_.injection_counts()) {
      const size_t slash = key.find('/');
      const std::string_view k = key;
      out.sample(
          "stampede_proxy_toxic_injections_total",
          {{"proxy", k.substr(0, slash)}, {"toxic", slash == std::string::npos ? "" : k.substr(slash + 1)}},
          count);
    }
    http::response r = http::response::text(200, out.take());
    r.content_type = prometheus::content_type;
    return r;
  }

  http::response populate(http::request& req) {
    auto configs = parse_proxy_list(req.body);
    json::array out;
    for (const auto& p : server_.populate(configs)) out.push_back(proxy_object(p));
    return json_response(201, json::object{{"proxies", std::move(out)}});
  }

  http::response injections(http::request& req) {
    uint64_t after = 0;
    if (req.has_query_param("after")) {
      const std::string text = req.query_param("after");
      char* end = nullptr;
      after = std::strtoull(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0') bad("query parameter 'after' must be a number");
    }
    json::array list;
    for (const auto& e : server_.injections_after(after)) {
      list.push_back(json::object{
          {"sequence", e.sequence},
          {"time", iso_time(e.time)},
          {"since_start_ms", std::chrono::duration<double, std::milli>(e.since_start).count()},
          {"proxy", e.proxy},
          {"toxic", e.toxic},
          {"type", e.type},
          {"direction", e.direction},
          {"connection", e.connection},
          {"request", e.request},
          {"detail", e.detail},
      });
    }
    json::object counts;
    for (const auto& [key, count] : server_.injection_counts()) counts[key] = count;
    return json_response(200, json::object{{"seed", server_.seed()},
                                           {"total", server_.injections_total()},
                                           {"counts", std::move(counts)},
                                           {"injections", std::move(list)}});
  }

  proxy_info must_proxy(const std::string& name) {
    auto p = server_.proxy(name);
    if (!p) throw chaos_error(error_kind::not_found, "proxy not found");
    return *p;
  }
  toxic_spec must_toxic(const std::string& proxy, const std::string& toxic) {
    must_proxy(proxy);
    auto t = server_.toxic(proxy, toxic);
    if (!t) throw chaos_error(error_kind::not_found, "toxic not found");
    return *t;
  }
  static http::response not_found() { return error_response(404, "not found"); }
  static http::response method_not_allowed() { return error_response(405, "method not allowed"); }

  proxy_server& server_;
  api_options options_;
};

}  // namespace

http::handler make_api_handler(proxy_server& server, api_options options) {
  return api(server, options);
}

std::vector<proxy_config> parse_proxy_list(std::string_view text) {
  const json::value v = parse_body(text);
  if (!v.is_array()) bad("expected a JSON array of proxies");
  std::vector<proxy_config> out;
  for (const auto& item : v.get_array()) out.push_back(proxy_from(as_object(item, "proxy")));
  return out;
}

toxic_spec parse_toxic(std::string_view text, const toxic_spec* base) {
  return toxic_from(as_object(parse_body(text), "toxic"), base);
}

std::string to_json(const toxic_spec& toxic) { return to_json_text(toxic_object(toxic)); }
std::string to_json(const proxy_info& proxy) { return to_json_text(proxy_object(proxy)); }

}  // namespace stampede::chaos
