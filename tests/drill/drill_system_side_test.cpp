// The drill's system side (drill/system_parse.h, drill/system_sampler.h) on known answers: `show stat` CSV
// and Prometheus text parsed, counters that go back after a restart, gaps, health changes dated by lastchg,
// the queue, cache and database rows; and the sampler against a real HAProxy-less setup (nothing answers:
// gaps, no crash).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <string>
#include <thread>

#include "drill/quiet_wait.h"
#include "drill/system_parse.h"
#include "drill/system_sampler.h"

namespace {

namespace json = boost::json;
using namespace stampede::drill;

// The head of HAProxy 2.6's `show stat` and rows as it prints them (columns cut after lastchg's block).
const std::string stat_header =
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,"
    "weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,"
    "rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,"
    "\n";

std::string stat_row(const std::string& px, const std::string& sv, int scur, int stot,
                     const std::string& status, const std::string& lastchg, const std::string& check,
                     int e5xx) {
  return px + "," + sv + ",0,0," + std::to_string(scur) + ",5,," + std::to_string(stot) +
         ",100,200,,0,,0,0,0,0," + status + ",1,1,0,0,0," + lastchg + ",0,,1,3,1,,10,,2,0,,3," + check +
         ",200,1,0,10,0,0," + std::to_string(e5xx) + ",\n";
}

TEST(system_parse, show_stat_reads_server_rows_and_skips_frontends_and_backends) {
  const std::string csv =
      stat_header +
      "shop,FRONTEND,,,3,10,100,50,1,2,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,1,0,5,,,,0,50,0,0,0,\n" +
      stat_row("nodes", "node1", 2, 40, "UP", "12", "L7OK", 1) +
      stat_row("nodes", "node2", 0, 7, "DOWN", "3", "L4CON", 0) +
      stat_row("nodes", "node3", 1, 33, "UP 1/2", "12", "L7STS", 0) +
      "nodes,BACKEND,0,0,3,9,10,80,1,2,0,0,,0,0,0,0,UP,3,3,0,,0,30,0,,1,3,0,,80,,1,0,,5,,,,0,79,0,0,1,\n";
  const haproxy_stats s = parse_show_stat(csv);
  EXPECT_EQ(s.rejected_lines, 0u);
  ASSERT_EQ(s.servers.size(), 3u);
  EXPECT_EQ(s.servers[0], (haproxy_server_stat{"nodes", "node1", 40, 1, 2, "UP", "L7OK", 12}));
  EXPECT_EQ(s.servers[1], (haproxy_server_stat{"nodes", "node2", 7, 0, 0, "DOWN", "L4CON", 3}));
  EXPECT_EQ(s.servers[2].status, "UP 1/2");
  EXPECT_EQ(health_word(s.servers[2].status), "UP");
  EXPECT_EQ(health_word("DOWN 1/2"), "DOWN");
  EXPECT_EQ(health_word("no check"), "no check");
}

TEST(system_parse, show_stat_rejects_short_rows_bad_counters_and_rows_without_a_header) {
  EXPECT_EQ(parse_show_stat("nodes,node1,0\n").rejected_lines, 1u);  // no header
  EXPECT_TRUE(parse_show_stat("").servers.empty());
  const std::string csv = stat_header + "nodes,node1,0,0\n" +
                          stat_row("nodes", "node2", 0, -4, "UP", "1", "", 0) +
                          stat_row("nodes", "node3", 0, 4, "UP", "", "", 0);
  const haproxy_stats s = parse_show_stat(csv);
  EXPECT_EQ(s.rejected_lines, 2u);
  ASSERT_EQ(s.servers.size(), 1u);
  EXPECT_EQ(s.servers[0].server, "node3");
  EXPECT_FALSE(s.servers[0].last_change_s.has_value());
  // A header without stot: nothing is read.
  EXPECT_TRUE(parse_show_stat("# pxname,svname,status\nnodes,node1,UP\n").servers.empty());
}

TEST(system_parse, prometheus_text_samples_labels_escapes_and_special_values) {
  const auto m = parse_prometheus_text(
      "# HELP shop_queue_depth Messages due.\n# TYPE shop_queue_depth gauge\nshop_queue_depth 7\n"
      "shop_cache_requests_total{result=\"hit\"} 90\n"
      "shop_cache_requests_total{ result = \"negative_hit\" , } 5 1700000000000\n"
      "shop_cache_requests_total{result=\"miss\"} 1e1\n"
      "odd{path=\"/a\\\"b\\\\c\\nd\"} +Inf\n\n  \n"
      "neg -2.5\n");
  EXPECT_EQ(m.rejected_lines, 0u);
  ASSERT_EQ(m.samples.size(), 6u);
  EXPECT_EQ(m.sum("shop_queue_depth"), 7);
  EXPECT_EQ(m.sum("shop_cache_requests_total"), 105);
  EXPECT_EQ(m.sum("shop_cache_requests_total", {{"result", "miss"}}), 10);
  EXPECT_FALSE(m.sum("shop_cache_requests_total", {{"result", "stale"}}).has_value());
  EXPECT_FALSE(m.sum("absent").has_value());
  EXPECT_EQ(m.samples[4].label("path"), "/a\"b\\c\nd");
  EXPECT_TRUE(std::isinf(m.samples[4].value));
  EXPECT_EQ(m.sum("neg"), -2.5);
}

TEST(system_parse, prometheus_text_rejects_malformed_lines_and_keeps_the_rest) {
  const auto m = parse_prometheus_text(
      "ok 1\n9bad 1\nnovalue\nx{a=\"1\" 2\nx{a=1} 2\ny 1 2 3\nz abc\nw{a=\"unterminated} 1\nv 3\n");
  EXPECT_EQ(m.rejected_lines, 7u);
  ASSERT_EQ(m.samples.size(), 2u);
  EXPECT_EQ(m.sum("ok"), 1);
  EXPECT_EQ(m.sum("v"), 3);
  EXPECT_EQ(parse_prometheus_text("a 1\nb 2\nc 3\n", 2).rejected_lines, 1u);  // the bound
}

TEST(system_side, counter_delta_never_goes_negative_when_a_counter_restarts) {
  EXPECT_EQ(counter_delta(int64_t{100}, int64_t{130}), 30);
  EXPECT_EQ(counter_delta(int64_t{100}, int64_t{100}), 0);
  EXPECT_EQ(counter_delta(int64_t{100}, int64_t{12}), 12);  // HAProxy restarted: 12 since
  EXPECT_EQ(counter_delta(5.0, 2.0), 2.0);
}

TEST(system_side, node_metrics_figures) {
  const auto n = read_node_metrics(
      "node1",
      "shop_queue_depth 3\nshop_dead_letters 1\nshop_cache_requests_total{result=\"hit\"} 8\n"
      "shop_cache_requests_total{result=\"negative_hit\"} 2\nshop_cache_requests_total{result=\"miss\"} 5\n"
      "shop_database_requests{state=\"running\"} 2\nshop_database_requests{state=\"waiting\"} 4\n"
      "shop_database_shed_total{reason=\"busy\"} 1\nshop_database_shed_total{reason=\"expired\"} 2\n");
  EXPECT_TRUE(n.answered);
  EXPECT_EQ(n.queue_depth, 3);
  EXPECT_EQ(n.dead_letters, 1);
  EXPECT_EQ(n.cache_hits, 10);
  EXPECT_EQ(n.cache_misses, 5);
  EXPECT_EQ(n.db_running, 2);
  EXPECT_EQ(n.db_waiting, 4);
  EXPECT_EQ(n.db_shed, 3);
  const auto empty = read_node_metrics("node2", "");
  EXPECT_TRUE(empty.answered);
  EXPECT_FALSE(empty.queue_depth || empty.cache_hits || empty.db_shed);
}

haproxy_server_stat server(const std::string& name, int64_t stot, const std::string& status, int64_t lastchg,
                           int64_t e5xx = 0) {
  return {"nodes", name, stot, e5xx, 1, status, status == "DOWN" ? "L4CON" : "L7OK", lastchg};
}

node_reading node(const std::string& name, double hits, double misses, double queue) {
  node_reading n{name, true, queue, 0.0, hits, misses, 1.0, 0.0, 0.0};
  return n;
}

node_reading unanswered(const std::string& name) {
  node_reading n;
  n.name = name;
  return n;
}

constexpr int64_t start_ms = 1'000'000;

// node2 killed at about 2.5 s: HAProxy marks it DOWN (lastchg 1 s at the 3.5 s reading), its requests stop,
// node1 and node3 take its share; HAProxy restarts before the 5.5 s reading (counters back near 0);
// node3 is missing from one reading; the runtime API does not answer at 6.5 s.
std::vector<system_reading> kill_readings() {
  std::vector<system_reading> r;
  auto at = [&](double t_s, std::optional<std::vector<haproxy_server_stat>> servers,
                std::vector<node_reading> nodes) {
    r.push_back({start_ms + static_cast<int64_t>(t_s * 1000), std::move(servers), std::move(nodes)});
  };
  at(-0.5,
     std::vector{server("node1", 100, "UP", 9), server("node2", 100, "UP", 9), server("node3", 100, "UP", 9)},
     {node("node1", 10, 10, 0), node("node2", 0, 0, 0), node("node3", 5, 5, 0)});
  at(0.5,
     std::vector{server("node1", 110, "UP", 10), server("node2", 110, "UP", 10),
                 server("node3", 110, "UP", 10)},
     {node("node1", 18, 12, 2), node("node2", 4, 4, 2), node("node3", 5, 5, 2)});
  at(1.5,
     std::vector{server("node1", 120, "UP", 11), server("node2", 120, "UP", 11),
                 server("node3", 120, "UP", 11)},
     {node("node1", 18, 12, 1), node("node2", 4, 4, 1), node("node3", 5, 5, 1)});
  at(2.5,
     std::vector{server("node1", 130, "UP", 12), server("node2", 125, "UP 1/2", 12),
                 server("node3", 130, "UP", 12)},
     {node("node1", 18, 12, 0), unanswered("node2"), node("node3", 5, 5, 0)});
  at(3.5,
     std::vector{server("node1", 145, "UP", 13), server("node2", 125, "DOWN", 1),
                 server("node3", 145, "UP", 13)},
     {node("node1", 18, 12, 0), unanswered("node2"), node("node3", 5, 5, 0)});
  at(4.5, std::vector{server("node1", 160, "UP", 14), server("node2", 125, "DOWN", 2)},
     {node("node1", 18, 12, 0), unanswered("node2"), node("node3", 5, 5, 0)});
  at(5.5,
     std::vector{server("node1", 15, "UP", 0), server("node2", 0, "DOWN", 0), server("node3", 15, "UP", 0)},
     {node("node1", 18, 12, 0), unanswered("node2"), node("node3", 5, 5, 0)});
  at(6.5, std::nullopt, {node("node1", 18, 12, 0), unanswered("node2"), node("node3", 5, 5, 0)});
  at(7.5,
     std::vector{server("node1", 30, "UP", 2), server("node2", 0, "DOWN", 2), server("node3", 30, "UP", 2)},
     {node("node1", 18, 12, 0), unanswered("node2"), node("node3", 5, 5, 0)});
  return r;
}

std::vector<int64_t> requests_of(const json::object& system, std::string_view name) {
  std::vector<int64_t> out;
  for (const auto& s : system.at("servers").as_array()) {
    if (s.at("name").as_string() != name) continue;
    for (const auto& row : s.at("seconds").as_array()) {
      out.push_back(row.as_object().contains("gap") ? -1 : row.at("requests").to_number<int64_t>());
    }
  }
  return out;
}

TEST(system_side, per_server_requests_gaps_resets_and_health_changes) {
  const json::object s = build_system_section(kill_readings(), start_ms, std::chrono::seconds{1},
                                              std::chrono::milliseconds{300});
  EXPECT_EQ(s.at("readings"), 9);
  EXPECT_EQ(s.at("haproxy_gaps"), 1);
  ASSERT_EQ(s.at("servers").as_array().size(), 3u);
  // -1: a gap. After the restart (5.5 s) the counters count from 0 again: 15 and 15, never negative.
  EXPECT_EQ(requests_of(s, "node1"), (std::vector<int64_t>{10, 10, 10, 15, 15, 15, -1, 15}));
  EXPECT_EQ(requests_of(s, "node2"), (std::vector<int64_t>{10, 10, 5, 0, 0, 0, -1, 0}));
  EXPECT_EQ(requests_of(s, "node3"), (std::vector<int64_t>{10, 10, 10, 15, -1, 15, -1, 15}));
  const auto& first = s.at("servers").at(0).at("seconds").at(0).as_object();
  EXPECT_EQ(first.at("t"), 0.5);
  EXPECT_EQ(first.at("status"), "UP");
  EXPECT_EQ(first.at("sessions"), 1);
  // One change: UP 1/2 is still UP; DOWN between the readings at 2.5 s and 3.5 s (lastchg 1: between 1.5 s
  // and 3.5 s): at 3 s.
  const auto& changes = s.at("health_changes").as_array();
  ASSERT_EQ(changes.size(), 1u) << json::serialize(changes);
  EXPECT_EQ(changes[0], (json::value{{"t", 3.0},
                                     {"server", "node2"},
                                     {"backend", "nodes"},
                                     {"from", "UP"},
                                     {"to", "DOWN"},
                                     {"check_status", "L4CON"}}));
}

TEST(system_side, queue_cache_and_database_rows) {
  const json::object s = build_system_section(kill_readings(), start_ms, std::chrono::seconds{1},
                                              std::chrono::milliseconds{300});
  const auto& rows = s.at("seconds").as_array();
  ASSERT_EQ(rows.size(), 8u);
  // 0.5 s: node1 8 hits 2 misses, node2 4 and 4, node3 nothing: 12 hits of 18 lookups.
  EXPECT_EQ(rows[0].at("cache_hits"), 12.0);
  EXPECT_EQ(rows[0].at("cache_misses"), 6.0);
  EXPECT_EQ(rows[0].at("cache_hit_ratio"), 0.6667);
  EXPECT_EQ(rows[0].at("queue_depth"), 2.0);
  EXPECT_EQ(rows[0].at("nodes_answered"), 3);
  EXPECT_EQ(rows[0].at("db_running"), 3.0);
  EXPECT_TRUE(rows[1].at("cache_hit_ratio").is_null());  // no lookup: no ratio
  EXPECT_EQ(rows[2].at("nodes_answered"), 2);            // node2 killed
  EXPECT_EQ(rows[2].at("db_running"), 2.0);
}

TEST(system_side, nothing_happened_has_no_health_change_and_readings_before_the_start_are_baseline_only) {
  std::vector<system_reading> r;
  for (int i = 0; i < 6; ++i) {
    r.push_back({start_ms - 1500 + i * 1000,
                 std::vector{server("node1", 10 * i, "UP", i), server("node2", 10 * i, "UP", i)},
                 {node("node1", i, 0, 0)}});
  }
  const json::object s =
      build_system_section(r, start_ms, std::chrono::seconds{1}, std::chrono::milliseconds{300});
  EXPECT_TRUE(s.at("health_changes").as_array().empty());
  EXPECT_EQ(requests_of(s, "node1"), (std::vector<int64_t>{10, 10, 10, 10}));  // -0.5 s is left out
  EXPECT_EQ(s.at("seconds").as_array().size(), 4u);
  EXPECT_EQ(s.at("seconds").at(0).at("cache_hit_ratio"), 1.0);
  // No reading at all (the sampler never ran): empty lists.
  const json::object none =
      build_system_section({}, start_ms, std::chrono::seconds{1}, std::chrono::milliseconds{300});
  EXPECT_TRUE(none.at("servers").as_array().empty());
  EXPECT_TRUE(none.at("seconds").as_array().empty());
}

// Across a gap (HAProxy silent from 1.5 s to 4.5 s) lastchg narrows when the change happened: 3 s before the
// 5.5 s reading, within 1 s: between 1.5 s and 3.5 s.
TEST(system_side, lastchg_dates_a_change_seen_after_a_gap) {
  std::vector<system_reading> r{{start_ms + 500, std::vector{server("node1", 5, "UP", 9)}, {}}};
  for (int i = 1; i <= 4; ++i) r.push_back({start_ms + 500 + i * 1000, std::nullopt, {}});
  r.push_back({start_ms + 5500, std::vector{server("node1", 5, "DOWN", 3)}, {}});
  const json::object s =
      build_system_section(r, start_ms, std::chrono::seconds{1}, std::chrono::milliseconds{300});
  ASSERT_EQ(s.at("health_changes").as_array().size(), 1u);
  EXPECT_EQ(s.at("health_changes").at(0).at("t"), 2.5);
  EXPECT_EQ(s.at("haproxy_gaps"), 4);
}

TEST(system_side, a_server_added_after_the_start_counts_from_zero) {
  std::vector<system_reading> r{
      {start_ms, std::vector{server("node1", 50, "UP", 1)}, {}},
      {start_ms + 1000, std::vector{server("node1", 60, "UP", 2), server("node4", 3, "UP", 0)}, {}}};
  const json::object s =
      build_system_section(r, start_ms, std::chrono::seconds{1}, std::chrono::milliseconds{300});
  EXPECT_EQ(requests_of(s, "node4"), (std::vector<int64_t>{3}));
  EXPECT_TRUE(s.at("health_changes").as_array().empty());
}

TEST(system_side, drill_summary_line) {
  json::value results{{"drill",
                       {{"system", build_system_section(kill_readings(), start_ms, std::chrono::seconds{1},
                                                        std::chrono::milliseconds{300})}}}};
  EXPECT_EQ(
      system_summary(results),
      "    system: node2 UP -> DOWN at 3.0s (L4CON); requests per server: node1 90, node2 25, node3 75\n");
  EXPECT_EQ(system_summary(json::value{{"drill", json::object{}}}), "");
}

// Nothing listens: every reading is a gap (HAProxy) and an unanswered node; stop() returns them.
TEST(system_sampler, targets_that_do_not_answer_are_gaps) {
  system_sampler sampler({1, {{"node1", 1}}}, std::chrono::milliseconds{50}, std::chrono::milliseconds{50});
  std::this_thread::sleep_for(std::chrono::milliseconds{180});
  const auto readings = sampler.stop();
  ASSERT_GE(readings.size(), 2u);
  for (const auto& r : readings) {
    EXPECT_FALSE(r.haproxy.has_value());
    ASSERT_EQ(r.nodes.size(), 1u);
    EXPECT_FALSE(r.nodes[0].answered);
  }
  EXPECT_TRUE(sampler.stop().empty());
}

TEST(system_sampler, targets_of_a_topology) {
  const auto t = sampler_targets_of(
      json::parse(R"({"haproxy":{"runtime_api":"127.0.0.1:9100"},"nodes":[{"name":"node1","port":9001}]})")
          .as_object());
  EXPECT_EQ(t.haproxy_runtime_port, 9100);
  ASSERT_EQ(t.nodes.size(), 1u);
  EXPECT_EQ(t.nodes[0].name, "node1");
  EXPECT_EQ(t.nodes[0].port, 9001);
  EXPECT_THROW(sampler_targets_of(json::parse(R"({"nodes":[]})").as_object()), std::exception);
}

}  // namespace

// The drill's quiet wait counts the requests still running at the nodes from HAProxy's `nodes` backend only:
// the frontend's and the backend's own rows and any other proxy's servers are not the nodes' work.
TEST(quiet_wait, sessions_at_nodes_sums_the_nodes_backend_servers_only) {
  const std::string csv =
      stat_header +
      "shop,FRONTEND,,,7,10,100,50,1,2,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,1,0,5,,,,0,50,0,0,0,\n" +
      stat_row("nodes", "node1", 2, 40, "UP", "12", "L7OK", 0) +
      stat_row("nodes", "node2", 0, 7, "DOWN", "3", "L4CON", 0) +
      stat_row("nodes", "node4", 3, 9, "UP", "1", "L7OK", 0) +
      "nodes,BACKEND,0,0,5,9,10,80,1,2,0,0,,0,0,0,0,UP,3,3,0,,0,30,0,,1,3,0,,80,,1,0,,5,,,,0,79,0,0,1,\n" +
      stat_row("observability", "prometheus", 4, 9, "UP", "1", "L7OK", 0);
  EXPECT_EQ(sessions_at_nodes(csv), 5);
  EXPECT_EQ(sessions_at_nodes(stat_header + stat_row("nodes", "node1", 0, 40, "UP", "12", "L7OK", 0)), 0);
  EXPECT_EQ(sessions_at_nodes(""), 0) << "no answer is no session (the caller asks again)";
}
