// What the sanitizer build changes for tests.
#pragma once

namespace stampede::testing {

// Under AddressSanitizer freed memory waits in a quarantine and shadow memory is mapped, so peak-RSS
// bounds say nothing there: memory bounds are asserted in the release build only.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool rss_bounds_checked = false;
#else
inline constexpr bool rss_bounds_checked = true;
#endif

}  // namespace stampede::testing
