// What the sanitizer build changes for tests.
#pragma once

namespace stampede::testing {

// Under AddressSanitizer freed memory waits in a quarantine, and both ASan and ThreadSanitizer map
// shadow memory, so peak-RSS bounds say nothing there: memory bounds are asserted in the release build.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool rss_bounds_checked = false;
#else
inline constexpr bool rss_bounds_checked = true;
#endif

}  // namespace stampede::testing
