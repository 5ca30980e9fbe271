# thresholds_test: included by tests/loadgen/CMakeLists.txt. Compiles loadgen/thresholds.cpp directly so it
# builds before the stampede::loadgen library lists it.
stampede_add_test(thresholds_test loadgen
  ${CMAKE_CURRENT_LIST_DIR}/thresholds_test.cpp
  ${PROJECT_SOURCE_DIR}/loadgen/thresholds.cpp)
target_link_libraries(thresholds_test PRIVATE stampede::common)
