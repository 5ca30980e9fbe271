// The Prometheus text exposition format (0.0.4), written in one place for the code base (the shop node's
// and the fault proxy's /metrics): "# HELP" and "# TYPE" once per family, label values escaped
// (backslash, double quote, newline), HELP text escaped (backslash, newline), numbers as Prometheus
// reads them (integers exactly, other values as the shortest decimal that reads back the same, +Inf,
// -Inf, NaN), histogram series as cumulative buckets with `le`, then _sum and _count.
//
// Thread-safety: a text_writer is used by one thread at a time.
#pragma once

#include <charconv>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stampede::prometheus {

// The Content-Type of the text format.
inline constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

enum class metric_type { counter, gauge, histogram };

using label = std::pair<std::string_view, std::string_view>;  // name, value (the value is escaped)

// The labels of one sample, in the order they are written: a braced list or a span (no copy; the
// labels must outlive the call).
class labels {
 public:
  labels() = default;
  labels(std::initializer_list<label> list) : view_(list.begin(), list.size()) {}
  labels(std::span<const label> list) : view_(list) {}
  std::span<const label> view() const noexcept { return view_; }

 private:
  std::span<const label> view_;
};

class text_writer {
 public:
  // Starts the family `name`: its HELP and TYPE lines. Its samples follow before the next family.
  // A family is written once: starting one again is a bug (asserted; the second header is skipped).
  void family(std::string_view name, metric_type type, std::string_view help);

  // One sample "name{labels} value" of the current family.
  void sample(std::string_view name, labels l, double value);
  template <std::integral T>
  void sample(std::string_view name, labels l, T value) {
    char digits[24];
    const char* end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    sample_text(name, l, std::string_view(digits, static_cast<size_t>(end - digits)));
  }

  // One series of the current histogram family `name`: name_bucket{labels,le="bound"} with the
  // cumulative count of each bound (bounds ascending, cumulative.size() == bounds.size()), then
  // le="+Inf" with `count`, name_sum and name_count.
  void histogram(std::string_view name, labels l, std::span<const double> bounds,
                 std::span<const uint64_t> cumulative, double sum, uint64_t count);

  const std::string& text() const noexcept { return out_; }
  std::string take() { return std::move(out_); }
  void reserve(size_t bytes) { out_.reserve(bytes); }

 private:
  void sample_text(std::string_view name, labels l, std::string_view value);
  void begin_sample(std::string_view name, labels l, const label* extra = nullptr);
  bool belongs_to_current(std::string_view name) const;

  std::string out_;
  // The families written so far (a few dozen: searched linearly).
  std::vector<std::pair<std::string, metric_type>> families_;
  size_t current_ = static_cast<size_t>(-1);  // index of the family samples belong to now
};

// Appends `value` as Prometheus reads it (the format of sample values and `le` labels).
void append_value(std::string& out, double value);
// Appends a label value with backslash, double quote and newline escaped.
void append_label_value(std::string& out, std::string_view value);

}  // namespace stampede::prometheus
