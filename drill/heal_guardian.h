// Heals what a killed drill cannot. Faults must not outlive the drill, but a drill killed by SIGKILL (or
// the OOM killer) in the middle of a pause leaves the user's process stopped forever: nothing it started
// would notice. The guardian is a small child process, forked before any thread exists, that waits on a
// pipe from the drill. A drill that ends normally (it healed everything itself) says so and the guardian
// exits; on EOF without that word (the drill died), it sends SIGCONT to every node of the topology that is
// stopped and runs every resume command (which must therefore be harmless on a running node).
// It ignores SIGINT and SIGTERM: Ctrl-C reaches the whole foreground group, and the drill handles it.
//
// Thread-safety: construct before starting threads (it forks); one owner.
#pragma once

#include <sys/types.h>

#include "loadgen/topology.h"

namespace stampede::drill {

class heal_guardian {
 public:
  // Forks the guardian when the topology has a node that a pause fault could stop; otherwise does nothing.
  explicit heal_guardian(const loadgen::topology& topology);
  ~heal_guardian();  // tells the guardian all is healed and reaps it
  heal_guardian(const heal_guardian&) = delete;
  heal_guardian& operator=(const heal_guardian&) = delete;
  pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
};

}  // namespace stampede::drill
