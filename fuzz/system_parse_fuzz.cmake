# Compiles the parsers directly (rather than linking stampede::drill) so they are coverage-instrumented.
stampede_add_fuzzer(system_parse_fuzz system_parse_fuzz.cpp ${PROJECT_SOURCE_DIR}/drill/system_parse.cpp)
target_include_directories(system_parse_fuzz PRIVATE ${PROJECT_SOURCE_DIR})
