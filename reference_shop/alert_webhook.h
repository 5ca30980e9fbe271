// The receiver of Alertmanager's webhook notifications (`stampede shop --observe`): a small HTTP server on
// 127.0.0.1 inside the supervisor process that appends one JSON line per alert of each notification to a
// file (DIR/observe/alerts.jsonl), so drills and people can read when each alert fired and resolved:
//   {"received_at":"2026-12-06T18:30:01.123Z","received_at_ms":1796..., "status":"firing",
//    "alertname":"ShopNodeDown","starts_at":"...","ends_at":"...","labels":{...},"annotations":{...},
//    "fingerprint":"...","receiver":"stampede","group_key":"..."}
// A body that is not an Alertmanager notification is kept too, as {"received_at":...,"error":...,"body":...}.
// Thread-safety: the server's one thread writes the file; start() and stop() from the owner's thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace stampede::http {
class server;
}

namespace stampede::shop {

// The JSON lines of one webhook body received at `received_at_ms` (Unix milliseconds), each ending in '\n'.
std::string alert_lines(std::string_view body, int64_t received_at_ms);

class alert_webhook {
 public:
  explicit alert_webhook(std::filesystem::path log);
  ~alert_webhook();
  alert_webhook(const alert_webhook&) = delete;
  alert_webhook& operator=(const alert_webhook&) = delete;

  // Listens on 127.0.0.1 (a free port); throws std::system_error when it cannot.
  void start();
  void stop();
  uint16_t port() const noexcept;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/alerts"; }
  const std::filesystem::path& log() const noexcept { return log_; }

 private:
  std::filesystem::path log_;
  std::mutex mutex_;  // one append at a time
  std::unique_ptr<http::server> server_;
};

}  // namespace stampede::shop
