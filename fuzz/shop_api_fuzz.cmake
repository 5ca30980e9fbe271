# shop_api_fuzz: see shop_api_fuzz.cpp (owner: hardening)
stampede_add_fuzzer(shop_api_fuzz shop_api_fuzz.cpp)
target_link_libraries(shop_api_fuzz PRIVATE stampede::shop Boost::json)
