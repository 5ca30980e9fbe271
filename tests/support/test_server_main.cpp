// stampede-test-server: test_server as a process, for end-to-end scripts.
//   stampede-test-server [--port P] [--threads T]
// Prints the port number alone on a line of stdout once listening, then serves until SIGINT/SIGTERM. Exit
// codes: 0 after a signal, 1 if it cannot listen, 2 for bad arguments.
#include <pthread.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "tests/support/test_server.h"

namespace {
// Strict integer parse: the whole argument must be a number, else -1.
int parse_int(const char* text) {
  int value = -1;
  const char* end = text + std::strlen(text);
  const auto [ptr, ec] = std::from_chars(text, end, value);
  return ec == std::errc{} && ptr == end ? value : -1;
}
}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--port") == 0 && has_value) {
      port = parse_int(argv[++i]);
    } else if (std::strcmp(argv[i], "--threads") == 0 && has_value) {
      threads = parse_int(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--port P] [--threads T]\n", argv[0]);
      return 2;
    }
  }
  if (port < 0 || port > 65535 || threads < 1 || threads > 256) {
    std::fprintf(stderr, "stampede-test-server: --port must be 0..65535 and --threads 1..256\n");
    return 2;
  }
  // Block the signals before any thread starts, then wait for them here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  try {
    stampede::testing::test_server server(threads, static_cast<uint16_t>(port));
    std::printf("%u\n", server.port());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&signals, &sig);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede-test-server: %s\n", e.what());
    return 1;
  }
  return 0;
}
