# Compiles hdr_histogram.cpp, its codec and base64 directly (rather than linking stampede::common) so they are
# coverage-instrumented.
stampede_add_fuzzer(hdr_decode_fuzz hdr_decode_fuzz.cpp ${PROJECT_SOURCE_DIR}/common/hdr_histogram.cpp
  ${PROJECT_SOURCE_DIR}/common/hdr_histogram_codec.cpp
  ${PROJECT_SOURCE_DIR}/common/base64.cpp)
target_include_directories(hdr_decode_fuzz PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(hdr_decode_fuzz PRIVATE ZLIB::ZLIB)
