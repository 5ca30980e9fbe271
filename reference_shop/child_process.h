// Child processes of the shop's supervisor: fork + exec with PR_SET_PDEATHSIG=SIGKILL, a ready pipe on
// which the child reports its port, and status texts. Called from the supervisor's one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace stampede::shop {

// This binary's path (/proc/self/exe); throws std::runtime_error.
std::string self_exe();

// fork + exec with the parent's death signal set and a clean signal mask. `ready_fd` >= 0: the child's
// end of a pipe, passed as fd 3. Returns the pid; throws std::runtime_error if fork fails.
pid_t spawn(const std::string& program, const std::vector<std::string>& argv, int ready_fd,
            const std::vector<std::pair<std::string, std::string>>& env);

// Reads "PORT\n" from a child's ready pipe within the deadline; throws std::runtime_error naming `what`.
uint16_t wait_ready(int fd, const std::string& what, std::chrono::milliseconds timeout);

// "exited with status 1", "killed by signal 9 (Killed)".
std::string describe_status(int status);

// Whether something accepts TCP connections on 127.0.0.1:port.
bool tcp_accepts(uint16_t port);

}  // namespace stampede::shop
