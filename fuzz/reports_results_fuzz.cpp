// Fuzzes the results reader and every renderer: hostile results files must give results_error, never a
// crash, hang or sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "reports/compare.h"
#include "reports/formats.h"
#include "reports/merge.h"
#include "reports/results.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stampede::reports;
  if (size > 1 << 20) return 0;
  try {
    run_results r = parse_results(std::string_view(reinterpret_cast<const char*>(data), size));
    for (auto f : {report_format::html, report_format::markdown, report_format::junit, report_format::json,
                   report_format::hlog, report_format::hgrm}) {
      try {
        (void)render(r, f);
      } catch (const results_error&) {
      }
    }
    run_results shards[] = {r, r};
    try {
      (void)merge_results(shards, merge_options{.force = true, .names = {}});  // the same run twice: forced
    } catch (const results_error&) {
    }
    (void)compare_runs(std::span(shards, 1), std::span(shards + 1, 1), parse_budget(default_budget));
  } catch (const results_error&) {
  }
  return 0;
}
