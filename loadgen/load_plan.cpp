#include "loadgen/load_plan.h"

#include <boost/json/array.hpp>

namespace stampede::loadgen {

namespace {

double seconds(nanos d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

boost::json::object planned_load_json(const scenario_options& s) {
  namespace json = boost::json;
  const double start = seconds(s.start_time);
  json::array points;
  auto point = [&](double t, double level) { points.push_back(json::array{t, level}); };
  const bool open = is_arrival_rate(s.executor);
  const double per_second = open ? 1.0 / seconds(s.time_unit) : 1.0;
  switch (s.executor) {
    case executor_kind::constant_vus:
      point(start, static_cast<double>(s.vus));
      point(start + seconds(s.duration), static_cast<double>(s.vus));
      break;
    case executor_kind::constant_arrival_rate:
      point(start, s.rate * per_second);
      point(start + seconds(s.duration), s.rate * per_second);
      break;
    case executor_kind::ramping_vus:
    case executor_kind::ramping_arrival_rate: {
      double t = start;
      point(t, (open ? s.start_rate : static_cast<double>(s.start_vus)) * per_second);
      for (const auto& stage : s.stages) {
        t += seconds(stage.duration);
        point(t, stage.target * per_second);
      }
      break;
    }
    case executor_kind::per_vu_iterations:
    case executor_kind::shared_iterations:
      point(start, static_cast<double>(s.vus));
      point(start + seconds(s.max_duration), static_cast<double>(s.vus));
      break;
  }
  const bool when_done =
      s.executor == executor_kind::per_vu_iterations || s.executor == executor_kind::shared_iterations;
  return json::object{{"unit", open ? "arrivals_per_s" : "vus"},
                      {"points", std::move(points)},
                      {"ends", when_done ? "when_done" : "planned"}};
}

}  // namespace stampede::loadgen
