// The results file's identity: the one place its "schema" string and version are spelled (docs/RESULTS.md).
// Writers (loadgen, merge, capacity) and the reader (results/decode.cpp) take them from here.
#pragma once

#include <string_view>

namespace stampede::results {

inline constexpr std::string_view schema_name = "stampede-results";
// The major version this build writes and the newest it reads; a newer file is refused with a message.
inline constexpr int schema_version = 1;

}  // namespace stampede::results
