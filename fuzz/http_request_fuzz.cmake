# http_request_fuzz: see http_request_fuzz.cpp (owner: http)
stampede_add_fuzzer(http_request_fuzz http_request_fuzz.cpp)
target_link_libraries(http_request_fuzz PRIVATE stampede::common)
