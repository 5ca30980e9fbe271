// Hostile input against common/: parsers must not trust announced sizes, and the descriptor-limit helper
// must raise what it may and explain clearly what it cannot.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "common/http_parse.h"
#include "common/limits.h"

namespace stampede {
namespace {

TEST(hostile_parsers, announced_body_length_is_not_allocated_up_front) {
  http::response_parser response;  // the generator's limits: 64 MiB bodies
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 60000000\r\n\r\n0123456789";
  EXPECT_EQ(response.feed(head), head.size());
  EXPECT_FALSE(response.complete());
  EXPECT_EQ(response.body(), "0123456789");
  EXPECT_LE(response.body().capacity(), 1024u * 1024u + 64u);

  http::request_parser request(http::parse_limits{.max_header_bytes = 16 * 1024, .max_body_bytes = 32 << 20});
  const std::string post = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 30000000\r\n\r\nab";
  EXPECT_EQ(request.feed(post), post.size());
  EXPECT_LE(request.body().capacity(), 1024u * 1024u + 64u);
  // Smaller bodies are still reserved exactly (one allocation).
  http::response_parser small;
  const std::string small_head = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nx";
  small.feed(small_head);
  EXPECT_GE(small.body().capacity(), 5000u);
}

TEST(hostile_parsers, lengths_beyond_the_limit_or_conflicting_are_errors) {
  http::response_parser p(http::parse_limits{.max_header_bytes = 4096, .max_body_bytes = 1000});
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n";
  p.feed(head);
  EXPECT_EQ(p.error(), http::parse_error::body_too_large);
  http::response_parser q;
  const std::string overflow = "HTTP/1.1 200 OK\r\nContent-Length: 184467440737095516160\r\n\r\n";
  q.feed(overflow);
  EXPECT_NE(q.error(), http::parse_error::none);
}

TEST(fd_limits, raise_restores_the_soft_limit_up_to_the_hard_limit) {
  const fd_limits before = current_fd_limits();
  ASSERT_GT(before.hard, 256u);
  rlimit low{256, static_cast<rlim_t>(before.hard == UINT64_MAX ? RLIM_INFINITY : before.hard)};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  EXPECT_EQ(current_fd_limits().soft, 256u);
  const fd_limits raised = raise_fd_limit();
  EXPECT_GT(raised.soft, 256u);
  EXPECT_GE(raised.soft, std::min<uint64_t>(before.soft, before.hard));
  EXPECT_EQ(raised.hard, before.hard);
  // Needs within the limit are fine (and raise it first if it was lowered).
  ::setrlimit(RLIMIT_NOFILE, &low);
  EXPECT_EQ(check_fd_limit(1000, "test"), "");
  EXPECT_GT(current_fd_limits().soft, 1000u);
}

TEST(fd_limits, a_hard_limit_too_low_gives_a_clear_message) {
  // Lowering the hard limit cannot be undone without privileges: do it in a child process.
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlimit low{100, 200};
    if (::setrlimit(RLIMIT_NOFILE, &low) != 0) ::_exit(2);
    const std::string message = check_fd_limit(5000, "stampede run: up to 5000 VUs");
    const fd_limits after = current_fd_limits();
    const std::string report = std::to_string(after.soft) + "|" + message;
    if (::write(out[1], report.data(), report.size()) < 0) ::_exit(3);
    ::_exit(0);
  }
  ::close(out[1]);
  std::string report;
  char buf[1024];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) report.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(report.substr(0, report.find('|')), "200");  // the soft limit was raised to the hard one
  const std::string message = report.substr(report.find('|') + 1);
  EXPECT_NE(message.find("stampede run: up to 5000 VUs need about 5064 open files"), std::string::npos) << message;
  EXPECT_NE(message.find("RLIMIT_NOFILE is 200 (hard limit 200)"), std::string::npos) << message;
  EXPECT_NE(message.find("ulimit -Hn"), std::string::npos) << message;
}

}  // namespace
}  // namespace stampede
