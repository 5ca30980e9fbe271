# http_response_fuzz: see http_response_fuzz.cpp (owner: http)
stampede_add_fuzzer(http_response_fuzz http_response_fuzz.cpp)
target_link_libraries(http_response_fuzz PRIVATE stampede::common)
