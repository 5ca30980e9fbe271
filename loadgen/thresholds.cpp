#include "loadgen/thresholds.h"

#include <stdexcept>
#include <string>

#include "loadgen/options.h"

namespace stampede::loadgen {

std::vector<threshold> build_thresholds_from_options(std::span<const threshold_input> input,
                                                     const metric_catalogue& catalogue) {
  std::vector<threshold> out;
  out.reserve(input.size());
  for (const auto& in : input) {
    try {
      threshold t;
      t.selector = parse_metric_selector(in.metric, catalogue);
      t.expression = parse_threshold_expression(in.expression, t.selector.type);
      t.text = in.expression;
      t.abort_on_fail = in.abort_on_fail;
      if (in.delay_abort_eval < std::chrono::nanoseconds::zero()) {
        throw std::invalid_argument("delayAbortEval must not be negative");
      }
      t.delay_abort_eval = in.delay_abort_eval;
      out.push_back(std::move(t));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("thresholds['" + in.metric + "']: " + e.what());
    }
  }
  return out;
}

}  // namespace stampede::loadgen
