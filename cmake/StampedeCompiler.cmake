# Compiler settings shared by every target.
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)
if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "" FORCE)
endif()
set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O2 -g1 -DNDEBUG")

find_program(STAMPEDE_CCACHE ccache)
if(STAMPEDE_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${STAMPEDE_CCACHE})
  set(CMAKE_C_COMPILER_LAUNCHER ${STAMPEDE_CCACHE})
endif()

# Interface target carrying warnings and sanitizer flags; every stampede target links it.
add_library(stampede_build_flags INTERFACE)
add_library(stampede::build_flags ALIAS stampede_build_flags)
target_compile_options(stampede_build_flags INTERFACE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
if(STAMPEDE_WERROR)
  target_compile_options(stampede_build_flags INTERFACE -Werror)
endif()
if(STAMPEDE_SANITIZE_THREAD)
  target_compile_options(stampede_build_flags INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(stampede_build_flags INTERFACE -fsanitize=thread)
endif()
if(STAMPEDE_SANITIZE)
  target_compile_options(stampede_build_flags INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(stampede_build_flags INTERFACE -fsanitize=address,undefined)
endif()

# Fuzz builds (clang): the parsers' own libraries are compiled with coverage and sanitizers
# (-fsanitize=fuzzer-no-link) so that libFuzzer sees inside them; every binary then links the
# sanitizer runtimes. Components add the flag to their parser sources (stampede_fuzz_instrument).
if(STAMPEDE_BUILD_FUZZERS)
  add_link_options(-fsanitize=address,undefined)
endif()
function(stampede_fuzz_instrument)
  if(STAMPEDE_BUILD_FUZZERS)
    set_source_files_properties(${ARGN} DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
      PROPERTIES COMPILE_OPTIONS "-fsanitize=fuzzer-no-link,address,undefined")
  endif()
endfunction()
