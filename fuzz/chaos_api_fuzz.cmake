stampede_add_fuzzer(chaos_api_fuzz chaos_api_fuzz.cpp)
target_link_libraries(chaos_api_fuzz PRIVATE stampede::chaos)
