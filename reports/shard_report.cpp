#include "reports/shard_report.h"

#include <boost/json.hpp>
#include <utility>
#include <vector>

#include "reports/text_util.h"

namespace stampede::reports {

namespace {

namespace json = boost::json;

const json::object* shards_section(const run_results& r) {
  const auto* root = r.document.if_object();
  const auto* drill = root != nullptr ? root->if_contains("drill") : nullptr;
  const auto* s = drill != nullptr && drill->is_object() ? drill->as_object().if_contains("shards") : nullptr;
  return s != nullptr && s->is_object() ? &s->as_object() : nullptr;
}

std::string figure(const json::object& o, std::string_view key, int decimals = 0) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_number()) return "-";
  return text::num(v->to_number<double>(), decimals);
}

const json::object& object_at(const json::object& o, std::string_view key) {
  static const json::object empty;
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_object() ? v->as_object() : empty;
}

// The two tables' rows: {header, cell}.
std::vector<std::pair<std::string, std::string>> outcome_cells(const json::object& s) {
  const auto& o = object_at(s, "orders");
  return {{"committed", figure(o, "committed")},
          {"aborted", figure(o, "aborted")},
          {"compensated", figure(o, "compensated")},
          {"resolved by recovery", figure(o, "resolved_by_recovery")},
          {"still in doubt", figure(o, "in_doubt")}};
}

std::vector<std::pair<std::string, std::string>> doubt_cells(const json::object& s) {
  const auto& d = object_at(s, "in_doubt");
  return {{"transactions seen in doubt", figure(d, "transactions")},
          {"stuck (>= " + figure(d, "stuck_threshold_s", 1) + " s)", figure(d, "stuck")},
          {"longest", figure(d, "max_s", 1) + " s"},
          {"stuck seconds in all", figure(d, "stuck_total_s", 1) + " s"},
          {"unresolved", figure(d, "unresolved")},
          {"lease", figure(d, "lease_s", 1) + " s"}};
}

std::string caption(const json::object& s) {
  const auto* txn = s.if_contains("txn");
  std::string out =
      "--txn " + (txn != nullptr && txn->is_string() ? std::string(txn->as_string()) : "?") + ", " +
      figure(s, "shards") +
      " shards. Orders from the shop's audit after the drill (aborted: "
      "transactions recovery aborted; a checkout rolled back before its decision leaves no trace), "
      "in-doubt times from each shard's pg_prepared_xacts sampled every " +
      figure(object_at(s, "in_doubt"), "sample_interval_ms") + " ms.";
  if (const auto* e = s.if_contains("audit_error"); e != nullptr && e->is_string()) {
    out += " The audit could not be read: " + std::string(e->as_string()) + ".";
  }
  return out;
}

}  // namespace

std::string render_shards_markdown(const run_results& r) {
  const json::object* s = shards_section(r);
  if (s == nullptr) return {};
  std::string md = "### Cross-shard transactions\n\n" + text::md_cell(caption(*s)) + "\n\n";
  for (const auto& cells : {outcome_cells(*s), doubt_cells(*s)}) {
    std::string head = "|", rule = "|", row = "|";
    for (const auto& [h, c] : cells) {
      head += " " + text::md_cell(h) + " |";
      rule += "--:|";
      row += " " + text::md_cell(c) + " |";
    }
    md += head + "\n" + rule + "\n" + row + "\n\n";
  }
  return md;
}

std::string render_shards_html(const run_results& r) {
  const json::object* s = shards_section(r);
  if (s == nullptr) return {};
  std::string h =
      "<h2>Cross-shard transactions</h2>\n<p><small>" + text::xml_escape(caption(*s)) + "</small></p>\n";
  const char* ids[] = {"shard-outcomes", "shard-in-doubt"};
  int i = 0;
  for (const auto& cells : {outcome_cells(*s), doubt_cells(*s)}) {
    h += std::string("<table id=\"") + ids[i++] + "\"><tr>";
    for (const auto& [head, c] : cells) h += "<th>" + text::xml_escape(head) + "</th>";
    h += "</tr>\n<tr>";
    for (const auto& [head, c] : cells) h += "<td>" + text::xml_escape(c) + "</td>";
    h += "</tr>\n</table>\n";
  }
  return h;
}

}  // namespace stampede::reports
