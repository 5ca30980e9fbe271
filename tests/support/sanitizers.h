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

// Sanitized builds (Debug, instrumented) add milliseconds of their own to every round trip, and a TSan or
// ASan run shares 2 cores with other tests. Lower bounds on a fault's delay hold everywhere; the allowance
// above a declared delay is this much wider there (upper bounds are tight in the release build).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitized_build = true;
inline constexpr double sanitizer_overhead_ms = 50.0;
#else
inline constexpr bool sanitized_build = false;
inline constexpr double sanitizer_overhead_ms = 0.0;
#endif

}  // namespace stampede::testing
