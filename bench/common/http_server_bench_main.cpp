// Benchmark target for bench/common/http_server_bench.sh: our http::server answering every request
// with a fixed 615-byte JSON body (the size of nginx's default index page), to compare with nginx
// serving a static file of the same size. Concurrency model: http::server's (one io_context, --threads
// threads). Usage: http_server_bench [--port P] [--threads T]; prints "port N" once listening.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/http_server.h"

int main(int argc, char** argv) {
  stampede::http::server_options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0) {
      options.port = static_cast<uint16_t>(std::atoi(argv[i + 1]));
    } else if (std::strcmp(argv[i], "--threads") == 0) {
      options.threads = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: %s [--port P] [--threads T]\n", argv[0]);
      return 2;
    }
  }
  const std::string fixed = "{\"data\":\"" + std::string(604, 'x') + "\"}";  // 615 bytes of JSON

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // server threads inherit the mask

  stampede::http::server server(
      options, [&fixed](stampede::http::request&) { return stampede::http::response::json(200, fixed); });
  try {
    server.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http_server_bench: %s\n", e.what());
    return 1;
  }
  std::printf("port %u\n", server.port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  server.stop();
  return 0;
}
