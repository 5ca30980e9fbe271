// The one k6 threshold grammar and its evaluator (results component): pass/fail criteria over aggregated
// metrics. loadgen checks them during and at the end of a run, `stampede merge` re-evaluates them on merged
// shards (results/evaluate.h) and `stampede capacity` reads its --slo terms with the same expression parser.
//
//   options.thresholds = {
//     http_req_duration = { "p(95)<200",
//                           { threshold = "p(99)<500", abortOnFail = true, delayAbortEval = "10s" } },
//     ["http_req_duration{name:/item/{id}}"] = { "avg < 100" },
//     http_req_failed = { "rate<0.01" },
//   }
//
// Metric key:  name [ "{" tag ":" value ("," tag ":" value)* "}" ]
//   Each pair splits on its first ':' so values may hold ':', '/', spaces or braces ("group:::checkout",
//   "name:/item/{id}"). A value may be quoted with "..." or '...' to hold ',' or keep edge spaces.
// Expression: aggregation op number, whitespace anywhere between tokens.
//   aggregation by metric type: trend avg|min|max|med|p(N) (N in [0, 100]); rate: rate; counter: count|rate;
//   gauge: value.  op: > >= < <= == === !=  (== and === both compare exactly).
//   number: -?digits[.digits][e±digits].
//   Trend values are milliseconds, rates are fractions in [0, 1], counter rates are per second.
//
// Every parse error is a std::invalid_argument whose message quotes the offending text and says what was
// expected. Thread-safety: everything here is either pure or const; metric_catalogue::add is the only mutator
// and, like any non-const member, must not race with readers of the same catalogue.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stampede::results {

enum class metric_type { counter, gauge, rate, trend };
std::string_view to_string(metric_type type) noexcept;

struct metric_definition {
  std::string name;
  metric_type type;
};

// Which metrics exist and their types. builtin() holds k6's built-in metrics plus our
// http_req_duration_uncorrected (trend: service time without coordinated-omission correction).
class metric_catalogue {
 public:
  // Starts with the built-in metrics.
  metric_catalogue();
  static const metric_catalogue& builtin();

  // Registers a custom metric. Throws std::invalid_argument for an empty name, a name that is not
  // [A-Za-z_][A-Za-z0-9_]*, or a name already registered with another type; re-adding the same
  // name with the same type is a no-op.
  void add(std::string_view name, metric_type type);
  std::optional<metric_type> find(std::string_view name) const noexcept;
  const std::vector<metric_definition>& metrics() const noexcept { return metrics_; }

 private:
  std::vector<metric_definition> metrics_;
};

struct tag_filter {
  std::string key;
  std::string value;
  friend bool operator==(const tag_filter&, const tag_filter&) = default;
};

// A metric, optionally narrowed to samples carrying all of `tags` (a k6 sub-metric).
struct metric_selector {
  std::string metric;
  metric_type type = metric_type::trend;
  std::vector<tag_filter> tags;  // sorted by key, keys unique
  std::string text;              // the key as written, surrounding whitespace trimmed: for reports
};

// Parses a thresholds key such as "http_req_duration{name:/cart,method:GET}".
metric_selector parse_metric_selector(std::string_view key,
                                      const metric_catalogue& catalogue = metric_catalogue::builtin());

// True when a sample with `sample_tags` belongs to the selector: every selector tag is present with the
// same value (extra sample tags are fine). Unsorted sample tags are fine too.
bool selector_matches(const metric_selector& selector,
                      std::span<const std::pair<std::string_view, std::string_view>> sample_tags) noexcept;

enum class aggregation_method { avg, min, max, med, percentile, rate, count, value };

struct aggregation {
  aggregation_method method = aggregation_method::avg;
  double percentile = 0;  // in [0, 100], only for aggregation_method::percentile
  friend bool operator==(const aggregation&, const aggregation&) = default;
};
// "avg", "p(99.9)", ...
std::string to_string(const aggregation& agg);

enum class comparison { greater, greater_equal, less, less_equal, equal, strict_equal, not_equal };
std::string_view to_string(comparison op) noexcept;

struct threshold_expression {
  aggregation agg;
  comparison op = comparison::less;
  double value = 0;
  friend bool operator==(const threshold_expression&, const threshold_expression&) = default;
};
// Canonical text without spaces, e.g. "p(95)<200"; parses back to an equal expression.
std::string to_string(const threshold_expression& expression);

// Parses "p(95) < 200" and checks the aggregation applies to `type`.
threshold_expression parse_threshold_expression(std::string_view text, metric_type type);

// Whether `observed op value` holds. NaN never holds (not even for !=): a broken aggregate must fail a gate.
bool holds(const threshold_expression& expression, double observed) noexcept;

struct threshold {
  metric_selector selector;
  threshold_expression expression;
  std::string text;  // the expression as written
  bool abort_on_fail = false;
  std::chrono::nanoseconds delay_abort_eval{0};  // abort only once the run is at least this old
};

// What the Lua options table gives, with no Lua types: one entry per element of a metric's list.
// A plain string "p(95)<200" is {.threshold = "p(95)<200"}.
struct threshold_entry_input {
  std::string threshold{};
  bool abort_on_fail = false;
  std::optional<std::string> delay_abort_eval{};  // duration text as in common/duration.h ("10s"); unset = 0
};
struct metric_thresholds_input {
  std::string metric_key{};  // "http_req_duration{name:/cart}"
  std::vector<threshold_entry_input> entries{};
};

// Parses and validates everything, in input order. Throws std::invalid_argument prefixed with where the
// problem is, e.g. "thresholds['http_req_duration'][2]: invalid threshold expression 'p(95)<x': ..."
// (entries count from 1, as in Lua). A key with no entries is validated and yields nothing.
std::vector<threshold> build_thresholds(std::span<const metric_thresholds_input> input,
                                        const metric_catalogue& catalogue = metric_catalogue::builtin());

// The caller's aggregate for one threshold: e.g. the p(95) of http_req_duration{name:/cart} in ms.
// Returns nullopt when the (sub-)metric has no samples yet.
using metric_value_source = std::function<std::optional<double>(const metric_selector& selector,
                                                                const threshold_expression& expression)>;

// One threshold's verdict, as evaluate_thresholds returns it and as the results file records it
// ("thresholds" in docs/RESULTS.md).
struct threshold_result {
  std::string metric{};      // selector text
  std::string expression{};  // expression text as written
  std::optional<double> observed{};
  bool ok = false;
  bool no_data = false;  // the source had no samples (see evaluate_thresholds)
  bool abort_on_fail = false;
  std::optional<bool> re_evaluated{};  // set by `stampede merge`: whether the merged data was re-evaluated
  friend bool operator==(const threshold_result&, const threshold_result&) = default;
};

// Evaluates every threshold, results in the same order. With no data (source returned nullopt):
// - trend: ok, observed unset (like k6: nothing measured cannot be too slow); no_data says so;
// - counter, rate, gauge: observed as 0 and compared (k6's empty sinks read 0), no_data set.
// Calls `source` once per threshold, on the calling thread; exceptions from it propagate.
std::vector<threshold_result> evaluate_thresholds(std::span<const threshold> thresholds,
                                                  const metric_value_source& source);

bool all_ok(std::span<const threshold_result> results) noexcept;

// Whether a failed abortOnFail threshold should stop the run `elapsed` after its start.
bool should_abort(const threshold& t, const threshold_result& result,
                  std::chrono::nanoseconds elapsed) noexcept;

}  // namespace stampede::results
