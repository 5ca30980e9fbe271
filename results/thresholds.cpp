#include "results/thresholds.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <system_error>

#include "common/duration.h"

namespace stampede::results {
namespace {

constexpr size_t max_metric_name_length = 128;

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_letter(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

bool valid_metric_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > max_metric_name_length || is_digit(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_letter(c) || is_digit(c) || c == '_'; });
}

std::string_view expected_aggregations(metric_type type) noexcept {
  switch (type) {
    case metric_type::trend:
      return "avg, min, max, med or p(N)";
    case metric_type::rate:
      return "rate";
    case metric_type::counter:
      return "count or rate";
    case metric_type::gauge:
      return "value";
  }
  return "";
}

bool applies(aggregation_method method, metric_type type) noexcept {
  switch (type) {
    case metric_type::trend:
      return method == aggregation_method::avg || method == aggregation_method::min ||
             method == aggregation_method::max || method == aggregation_method::med ||
             method == aggregation_method::percentile;
    case metric_type::rate:
      return method == aggregation_method::rate;
    case metric_type::counter:
      return method == aggregation_method::count || method == aggregation_method::rate;
    case metric_type::gauge:
      return method == aggregation_method::value;
  }
  return false;
}

std::string format_number(double value) {
  std::array<char, 64> buffer{};
  // Shortest representation that reads back to the same double.
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return ec == std::errc() ? std::string(buffer.data(), end) : std::to_string(value);
}

// Cursor over an expression; every error names the whole expression and the reason.
class expression_parser {
 public:
  expression_parser(std::string_view text, metric_type type) : text_(text), type_(type) {}

  threshold_expression parse() {
    skip_space();
    if (at_end()) fail("it is empty (expected e.g. 'p(95)<200')");
    threshold_expression result;
    result.agg = parse_aggregation();
    skip_space();
    const size_t op_start = pos_;
    result.op = parse_operator();
    const std::string_view op_text = text_.substr(op_start, pos_ - op_start);
    skip_space();
    result.value = parse_number(op_text);
    skip_space();
    if (!at_end()) {
      std::string hint;
      if (is_letter(text_[pos_]) && type_ == metric_type::trend)
        hint = " (trend thresholds are plain milliseconds)";
      fail("unexpected trailing text " + quoted(rest()) + " after the number" + hint);
    }
    return result;
  }

 private:
  [[noreturn]] void fail(const std::string& reason) const {
    throw std::invalid_argument("invalid threshold expression " + quoted(text_) + " for a " +
                                std::string(to_string(type_)) + " metric: " + reason);
  }

  bool at_end() const noexcept { return pos_ >= text_.size(); }
  std::string_view rest() const noexcept { return text_.substr(pos_); }
  void skip_space() noexcept {
    while (!at_end() && is_space(text_[pos_])) ++pos_;
  }

  aggregation parse_aggregation() {
    const std::string expected = std::string(expected_aggregations(type_));
    const size_t start = pos_;
    while (!at_end() && is_letter(text_[pos_])) ++pos_;
    const std::string_view name = text_.substr(start, pos_ - start);
    if (name.empty()) fail("expected an aggregation (" + expected + ") at " + quoted(rest()));

    aggregation agg;
    if (name == "p") {
      agg.method = aggregation_method::percentile;
      if (at_end() || text_[pos_] != '(') {
        fail("expected '(' after 'p' at " + quoted(rest()) + " (percentiles are written p(N), e.g. p(95))");
      }
      ++pos_;
      skip_space();
      const size_t number_start = pos_;
      agg.percentile = scan_number();
      if (pos_ == number_start) fail("expected a number in p(N) at " + quoted(rest()));
      if (!(agg.percentile >= 0 && agg.percentile <= 100)) {
        fail("percentile " + std::string(text_.substr(number_start, pos_ - number_start)) +
             " is outside [0, 100]");
      }
      skip_space();
      if (at_end() || text_[pos_] != ')') fail("expected ')' to close p( at " + quoted(rest()));
      ++pos_;
    } else if (name == "avg") {
      agg.method = aggregation_method::avg;
    } else if (name == "min") {
      agg.method = aggregation_method::min;
    } else if (name == "max") {
      agg.method = aggregation_method::max;
    } else if (name == "med") {
      agg.method = aggregation_method::med;
    } else if (name == "rate") {
      agg.method = aggregation_method::rate;
    } else if (name == "count") {
      agg.method = aggregation_method::count;
    } else if (name == "value") {
      agg.method = aggregation_method::value;
    } else {
      fail("unknown aggregation " + quoted(name) + " (expected " + expected + ")");
    }
    if (!applies(agg.method, type_)) {
      fail("aggregation " + quoted(name) + " does not apply to a " + std::string(to_string(type_)) +
           " metric (expected " + expected + ")");
    }
    return agg;
  }

  comparison parse_operator() {
    const std::string_view r = rest();
    // Longest match first: "===" before "==", ">=" before ">".
    struct entry {
      std::string_view token;
      comparison op;
    };
    static constexpr std::array<entry, 7> operators{{{"===", comparison::strict_equal},
                                                     {"==", comparison::equal},
                                                     {"!=", comparison::not_equal},
                                                     {">=", comparison::greater_equal},
                                                     {"<=", comparison::less_equal},
                                                     {">", comparison::greater},
                                                     {"<", comparison::less}}};
    for (const auto& e : operators) {
      if (r.starts_with(e.token)) {
        pos_ += e.token.size();
        return e.op;
      }
    }
    fail("expected an operator (>, >=, <, <=, ==, ===, !=) after " + quoted(text_.substr(0, pos_)) +
         ", got " + (r.empty() ? std::string("nothing") : quoted(r)));
  }

  double parse_number(std::string_view after) {
    const size_t start = pos_;
    const double value = scan_number();
    if (pos_ == start) {
      fail("expected a number after " + quoted(after) + ", got " +
           (at_end() ? std::string("nothing") : quoted(rest())));
    }
    return value;
  }

  // Scans -?digits[.digits][(e|E)[+-]digits] and converts it; leaves pos_ unchanged when there is no number.
  // Our own scanner because from_chars also takes "inf", "nan" and hex forms we do not want.
  double scan_number() {
    const size_t start = pos_;
    size_t p = pos_;
    if (p < text_.size() && text_[p] == '-') ++p;
    const size_t digits_start = p;
    while (p < text_.size() && is_digit(text_[p])) ++p;
    if (p == digits_start) return 0;
    if (p < text_.size() && text_[p] == '.') {
      const size_t fraction_start = ++p;
      while (p < text_.size() && is_digit(text_[p])) ++p;
      if (p == fraction_start) {
        pos_ = p;
        fail("expected digits after the decimal point in " + quoted(text_.substr(start, p - start)));
      }
    }
    if (p < text_.size() && (text_[p] == 'e' || text_[p] == 'E')) {
      size_t q = p + 1;
      if (q < text_.size() && (text_[q] == '+' || text_[q] == '-')) ++q;
      const size_t exponent_start = q;
      while (q < text_.size() && is_digit(text_[q])) ++q;
      if (q > exponent_start) p = q;  // otherwise the 'e' is trailing text, reported by the caller
    }
    const std::string_view number = text_.substr(start, p - start);
    double value = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec == std::errc::result_out_of_range || !std::isfinite(value)) {
      fail("number " + quoted(number) + " is out of range");
    }
    if (ec != std::errc() || end != number.data() + number.size()) fail("malformed number " + quoted(number));
    pos_ = p;
    return value;
  }

  std::string_view text_;
  metric_type type_;
  size_t pos_ = 0;
};

[[noreturn]] void selector_error(std::string_view key, const std::string& reason) {
  throw std::invalid_argument("invalid threshold metric " + quoted(key) + ": " + reason);
}

std::string known_metrics(const metric_catalogue& catalogue) {
  std::string out;
  for (const auto& m : catalogue.metrics()) {
    if (!out.empty()) out += ", ";
    out += m.name;
  }
  return out;
}

// Parses the inside of "{...}" into sorted, unique tags.
std::vector<tag_filter> parse_tags(std::string_view key, std::string_view inner) {
  std::vector<tag_filter> tags;
  size_t pos = 0;
  const auto skip_space = [&] {
    while (pos < inner.size() && is_space(inner[pos])) ++pos;
  };
  while (true) {
    // Key: up to the first ':' of this pair. A ',' first means the pair has no value.
    const size_t key_start = pos;
    while (pos < inner.size() && inner[pos] != ':' && inner[pos] != ',') ++pos;
    const std::string_view tag_key = trim(inner.substr(key_start, pos - key_start));
    if (pos >= inner.size() || inner[pos] == ',') {
      if (tag_key.empty()) selector_error(key, "empty tag (expected {tag:value,...})");
      selector_error(key, "tag " + quoted(tag_key) + " has no value (expected tag:value)");
    }
    if (tag_key.empty()) selector_error(key, "missing tag name before ':' (expected tag:value)");
    ++pos;  // ':'
    skip_space();

    std::string value;
    if (pos < inner.size() && (inner[pos] == '"' || inner[pos] == '\'')) {
      const char quote = inner[pos];
      const size_t close = inner.find(quote, pos + 1);
      if (close == std::string_view::npos) {
        selector_error(key, "unterminated quote in the value of tag " + quoted(tag_key));
      }
      value = std::string(inner.substr(pos + 1, close - pos - 1));
      pos = close + 1;
      skip_space();
      if (pos < inner.size() && inner[pos] != ',') {
        selector_error(key, "unexpected " + quoted(inner.substr(pos)) + " after the quoted value of tag " +
                                quoted(tag_key) + " (expected ',' or '}')");
      }
    } else {
      const size_t value_start = pos;
      while (pos < inner.size() && inner[pos] != ',') ++pos;
      const std::string_view raw = trim(inner.substr(value_start, pos - value_start));
      if (raw.empty()) {
        selector_error(key, "tag " + quoted(tag_key) + " has an empty value (write " + std::string(tag_key) +
                                ":\"\" to match an empty value)");
      }
      value = std::string(raw);
    }
    for (const auto& t : tags) {
      if (t.key == tag_key) selector_error(key, "tag " + quoted(tag_key) + " appears more than once");
    }
    tags.push_back({std::string(tag_key), std::move(value)});
    if (pos >= inner.size()) break;
    ++pos;  // ','
  }
  std::sort(tags.begin(), tags.end(), [](const tag_filter& a, const tag_filter& b) { return a.key < b.key; });
  return tags;
}

}  // namespace

std::string_view to_string(metric_type type) noexcept {
  switch (type) {
    case metric_type::counter:
      return "counter";
    case metric_type::gauge:
      return "gauge";
    case metric_type::rate:
      return "rate";
    case metric_type::trend:
      return "trend";
  }
  return "unknown";
}

metric_catalogue::metric_catalogue()
    : metrics_{
          // Trends (milliseconds).
          {"http_req_duration", metric_type::trend},
          {"http_req_duration_uncorrected", metric_type::trend},
          {"http_req_blocked", metric_type::trend},
          {"http_req_connecting", metric_type::trend},
          {"http_req_tls_handshaking", metric_type::trend},
          {"http_req_sending", metric_type::trend},
          {"http_req_waiting", metric_type::trend},
          {"http_req_receiving", metric_type::trend},
          {"iteration_duration", metric_type::trend},
          {"group_duration", metric_type::trend},
          // Rates.
          {"http_req_failed", metric_type::rate},
          {"checks", metric_type::rate},
          // Counters.
          {"http_reqs", metric_type::counter},
          {"iterations", metric_type::counter},
          {"dropped_iterations", metric_type::counter},
          {"data_sent", metric_type::counter},
          {"data_received", metric_type::counter},
          // Gauges.
          {"vus", metric_type::gauge},
          {"vus_max", metric_type::gauge},
      } {}

const metric_catalogue& metric_catalogue::builtin() {
  static const metric_catalogue catalogue;  // immutable after construction; thread-safe initialisation
  return catalogue;
}

void metric_catalogue::add(std::string_view name, metric_type type) {
  if (!valid_metric_name(name)) {
    throw std::invalid_argument(
        "invalid metric name " + quoted(name) +
        " (expected letters, digits and '_', not starting with a digit, at most 128)");
  }
  if (const auto existing = find(name)) {
    if (*existing == type) return;
    throw std::invalid_argument("metric " + quoted(name) + " is already a " +
                                std::string(to_string(*existing)) + ", cannot redefine it as a " +
                                std::string(to_string(type)));
  }
  metrics_.push_back({std::string(name), type});
}

std::optional<metric_type> metric_catalogue::find(std::string_view name) const noexcept {
  for (const auto& m : metrics_) {
    if (m.name == name) return m.type;
  }
  return std::nullopt;
}

metric_selector parse_metric_selector(std::string_view key, const metric_catalogue& catalogue) {
  const std::string_view text = trim(key);
  if (text.empty()) {
    selector_error(key,
                   "empty metric name (expected e.g. http_req_duration or http_req_duration{name:/cart})");
  }
  metric_selector selector;
  selector.text = std::string(text);
  // Metric names never contain '{', so the first one opens the tag block; values may contain more braces,
  // so the block ends at the last character.
  const size_t brace = text.find('{');
  const std::string_view name = trim(text.substr(0, brace));
  if (name.empty()) selector_error(key, "missing metric name before '{'");
  const auto type = catalogue.find(name);
  if (!type)
    selector_error(key, "unknown metric " + quoted(name) + " (known: " + known_metrics(catalogue) + ")");
  selector.metric = std::string(name);
  selector.type = *type;
  if (brace != std::string_view::npos) {
    if (text.back() != '}' || text.size() - brace < 2) {
      selector_error(key, "expected '}' at the end of the tag selector " + quoted(text.substr(brace)));
    }
    const std::string_view inner = text.substr(brace + 1, text.size() - brace - 2);
    if (trim(inner).empty()) selector_error(key, "empty tag selector '{}' (expected {tag:value,...})");
    selector.tags = parse_tags(key, inner);
  }
  return selector;
}

bool selector_matches(const metric_selector& selector,
                      std::span<const std::pair<std::string_view, std::string_view>> sample_tags) noexcept {
  return std::all_of(selector.tags.begin(), selector.tags.end(), [&](const tag_filter& wanted) {
    return std::any_of(sample_tags.begin(), sample_tags.end(), [&](const auto& have) {
      return have.first == wanted.key && have.second == wanted.value;
    });
  });
}

std::string to_string(const aggregation& agg) {
  switch (agg.method) {
    case aggregation_method::avg:
      return "avg";
    case aggregation_method::min:
      return "min";
    case aggregation_method::max:
      return "max";
    case aggregation_method::med:
      return "med";
    case aggregation_method::percentile:
      return "p(" + format_number(agg.percentile) + ")";
    case aggregation_method::rate:
      return "rate";
    case aggregation_method::count:
      return "count";
    case aggregation_method::value:
      return "value";
  }
  return "unknown";
}

std::string_view to_string(comparison op) noexcept {
  switch (op) {
    case comparison::greater:
      return ">";
    case comparison::greater_equal:
      return ">=";
    case comparison::less:
      return "<";
    case comparison::less_equal:
      return "<=";
    case comparison::equal:
      return "==";
    case comparison::strict_equal:
      return "===";
    case comparison::not_equal:
      return "!=";
  }
  return "?";
}

std::string to_string(const threshold_expression& expression) {
  return to_string(expression.agg) + std::string(to_string(expression.op)) + format_number(expression.value);
}

threshold_expression parse_threshold_expression(std::string_view text, metric_type type) {
  return expression_parser(text, type).parse();
}

bool holds(const threshold_expression& expression, double observed) noexcept {
  if (std::isnan(observed)) return false;
  const double v = expression.value;
  switch (expression.op) {
    case comparison::greater:
      return observed > v;
    case comparison::greater_equal:
      return observed >= v;
    case comparison::less:
      return observed < v;
    case comparison::less_equal:
      return observed <= v;
    case comparison::equal:
    case comparison::strict_equal:
      return observed == v;
    case comparison::not_equal:
      return observed != v;
  }
  return false;
}

std::vector<threshold> build_thresholds(std::span<const metric_thresholds_input> input,
                                        const metric_catalogue& catalogue) {
  std::vector<threshold> out;
  for (const auto& metric : input) {
    const std::string where = "thresholds[" + quoted(metric.metric_key) + "]";
    metric_selector selector;
    try {
      selector = parse_metric_selector(metric.metric_key, catalogue);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(where + ": " + e.what());
    }
    for (size_t i = 0; i < metric.entries.size(); ++i) {
      const auto& entry = metric.entries[i];
      try {
        threshold t;
        t.selector = selector;
        t.expression = parse_threshold_expression(entry.threshold, selector.type);
        t.text = entry.threshold;
        t.abort_on_fail = entry.abort_on_fail;
        if (entry.delay_abort_eval) {
          try {
            t.delay_abort_eval = parse_duration(*entry.delay_abort_eval);
          } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(std::string("delayAbortEval: ") + e.what());
          }
        }
        out.push_back(std::move(t));
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(where + "[" + std::to_string(i + 1) + "]: " + e.what());
      }
    }
  }
  return out;
}

std::vector<threshold_result> evaluate_thresholds(std::span<const threshold> thresholds,
                                                  const metric_value_source& source) {
  std::vector<threshold_result> results;
  results.reserve(thresholds.size());
  for (const auto& t : thresholds) {
    threshold_result r;
    r.metric = t.selector.text;
    r.expression = t.text;
    r.abort_on_fail = t.abort_on_fail;
    r.observed = source(t.selector, t.expression);
    if (!r.observed) {
      r.no_data = true;
      // Nothing measured cannot be too slow; count-like metrics with nothing recorded read 0.
      if (t.selector.type == metric_type::trend) {
        r.ok = true;
        results.push_back(std::move(r));
        continue;
      }
      r.observed = 0.0;
    }
    r.ok = holds(t.expression, *r.observed);
    results.push_back(std::move(r));
  }
  return results;
}

bool all_ok(std::span<const threshold_result> results) noexcept {
  return std::all_of(results.begin(), results.end(), [](const threshold_result& r) { return r.ok; });
}

bool should_abort(const threshold& t, const threshold_result& result,
                  std::chrono::nanoseconds elapsed) noexcept {
  return t.abort_on_fail && !result.ok && elapsed >= t.delay_abort_eval;
}

}  // namespace stampede::results
