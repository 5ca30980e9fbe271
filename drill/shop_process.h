// The reference shop as a child process of the drill (`stampede shop ...`), with bounded start and stop.
// The child gets PR_SET_PDEATHSIG=SIGTERM, so the shop (which in turn stops its nodes, HAProxy and the
// payment emulator) never outlives the drill, even when the drill is killed.
//
// Thread-safety: one owner thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "common/loopback.h"

namespace stampede::drill {

using stampede::free_loopback_port;  // common/loopback.h

class shop_process {
 public:
  // Starts `program shop ARGS... --topology DIR/topology.json`, output to DIR/shop.log, and waits until the
  // topology file appears (the shop is serving through HAProxy) or `timeout`. Throws std::runtime_error
  // with the shop's last log lines when it exits or does not become ready.
  shop_process(const std::string& program, std::vector<std::string> args, const std::filesystem::path& dir,
               std::chrono::seconds timeout = std::chrono::seconds{90});
  ~shop_process();  // stop()
  shop_process(const shop_process&) = delete;
  shop_process& operator=(const shop_process&) = delete;

  const boost::json::value& topology() const noexcept { return topology_; }
  // The topology file as it is now (the shop rewrites it when it respawns a node); the start's on error.
  boost::json::value current_topology() const;
  const std::filesystem::path& topology_path() const noexcept { return topology_path_; }
  std::string entry_url() const;
  std::string admin_token() const;
  std::string payment_url() const;
  pid_t pid() const noexcept { return pid_; }

  // SIGTERM, wait up to 20 s, then SIGKILL. Idempotent. Returns the shop's exit status text.
  std::string stop();

 private:
  std::string log_tail() const;
  pid_t pid_ = -1;
  std::filesystem::path log_path_;
  std::filesystem::path topology_path_;
  boost::json::value topology_;
};

// "http://127.0.0.1:8080" -> port 8080 (0 when it is not such a URL).
uint16_t port_of(const std::string& url);

}  // namespace stampede::drill
