# thresholds_test: included by tests/loadgen/CMakeLists.txt. thresholds.cpp is part of stampede::loadgen.
stampede_add_test(thresholds_test loadgen ${CMAKE_CURRENT_LIST_DIR}/thresholds_test.cpp)
target_link_libraries(thresholds_test PRIVATE stampede::loadgen)
