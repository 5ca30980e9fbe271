# All dependencies come from Debian 12 packages (scripts/setup.sh installs them).
find_package(Boost 1.81 REQUIRED COMPONENTS json url)
find_package(OpenSSL REQUIRED)
find_package(ZLIB REQUIRED)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(LUA REQUIRED IMPORTED_TARGET lua5.4)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
# The shop's PostgreSQL store (reference_shop/pg_connection.cpp); Debian's libpq-dev.
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
# The shop's Redis cache tier (reference_shop/redis_client.cpp); Debian's libhiredis-dev.
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
find_library(HTTP_PARSER_LIBRARY NAMES http_parser REQUIRED)
find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h REQUIRED)
add_library(http_parser::http_parser UNKNOWN IMPORTED)
set_target_properties(http_parser::http_parser PROPERTIES
  IMPORTED_LOCATION ${HTTP_PARSER_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${HTTP_PARSER_INCLUDE_DIR})
if(STAMPEDE_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(STAMPEDE_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()
