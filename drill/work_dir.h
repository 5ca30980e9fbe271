// A drill's temporary directory: $TMPDIR/stampede-drill-XXXXXX (the shop's data, its log and topology),
// removed when the drill ends unless kept. A drill killed by SIGKILL cannot remove its own, so every
// directory carries an owner file naming the drill's process (pid and start time, so a reused pid is not
// mistaken for it) and the next drill removes the directories whose owner is gone.
//
// Thread-safety: one owner thread.
#pragma once

#include <filesystem>

namespace stampede::drill {

class work_dir {
 public:
  // Creates the directory under `parent` (default: the system's temporary directory) with its owner file;
  // a kept directory has none (nobody removes it). Throws std::runtime_error.
  explicit work_dir(bool keep, const std::filesystem::path& parent = std::filesystem::temp_directory_path());
  ~work_dir();  // removes it unless kept
  work_dir(const work_dir&) = delete;
  work_dir& operator=(const work_dir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }
  // Adds the search bit for others (not read: nothing inside can be listed), so that a server the shop
  // runs as another user (PostgreSQL as `postgres` when we are root) can reach its data directory inside.
  // Throws std::runtime_error.
  void let_other_users_enter() const;

 private:
  std::filesystem::path path_;
  bool keep_;
};

// Removes the stampede-drill-* directories under `parent` whose owner file names a process that is no
// longer running. Directories without an owner file (kept ones, others' files) are left alone. Never
// throws; returns how many it removed.
int remove_stale_work_dirs(const std::filesystem::path& parent = std::filesystem::temp_directory_path());

}  // namespace stampede::drill
