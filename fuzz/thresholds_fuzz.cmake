# Compiles the parsers directly (rather than linking stampede::common) so they are coverage-instrumented.
stampede_add_fuzzer(thresholds_fuzz thresholds_fuzz.cpp
  ${PROJECT_SOURCE_DIR}/results/thresholds.cpp
  ${PROJECT_SOURCE_DIR}/common/duration.cpp)
target_include_directories(thresholds_fuzz PRIVATE ${PROJECT_SOURCE_DIR})
