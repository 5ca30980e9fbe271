#include "drill/in_doubt_sampler.h"

#include <memory>
#include <set>

#include "reference_shop/pg_connection.h"

namespace stampede::drill {

namespace pg = shop::pg;
using namespace std::chrono_literals;

namespace {

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

pg::settings sampler_settings() {
  pg::settings s;
  s.connect_timeout = 2s;  // libpq's least: a frozen shard costs one sample 2 s late, never a hang
  s.statement_timeout = 1000ms;
  s.answer_margin = 500ms;
  s.application_name = "stampede-drill-in-doubt";
  return s;
}

}  // namespace

void in_doubt_tracker::observe(int shard, int64_t t_ms,
                               const std::vector<std::pair<std::string, int64_t>>& prepared) {
  ++samples;
  std::set<std::string> listed;
  for (const auto& [gid, prepared_ms] : prepared) {
    listed.insert(gid);
    const auto [it, added] = index_.try_emplace(gid, records.size());
    if (added) records.push_back(in_doubt_record{gid, shard, prepared_ms, t_ms, std::nullopt});
    auto& r = records[it->second];
    r.last_seen_ms = t_ms;
    r.resolved_ms
        .reset();  // listed again (a sample read before an earlier one's answer came): still in doubt
  }
  for (auto& r : records) {
    if (r.shard == shard && !r.resolved_ms && !listed.contains(r.gid) && t_ms >= r.last_seen_ms)
      r.resolved_ms = t_ms;
  }
}

void in_doubt_tracker::observe_failure(int, int64_t) { ++failed_samples; }

in_doubt_sampler::in_doubt_sampler(std::vector<in_doubt_shard> shards, std::chrono::milliseconds interval)
    : shards_(std::move(shards)), interval_(interval) {
  for (size_t i = 0; i < shards_.size(); ++i) threads_.emplace_back([this, i] { run(i); });
}

in_doubt_sampler::~in_doubt_sampler() { stop(); }

void in_doubt_sampler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

in_doubt_tracker in_doubt_sampler::tracker() const {
  std::lock_guard lock(mutex_);
  return tracker_;
}

// One session kept between reads; any failure drops it (a new one next time).
void in_doubt_sampler::run(size_t index) {
  const in_doubt_shard& shard = shards_[index];
  std::unique_ptr<pg::connection> session;
  bool closing = false;  // stop() was called: one more read, so "unresolved" means still prepared at the end
  while (true) {
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::pair<std::string, int64_t>> prepared;
    bool ok = false;
    try {
      if (!session || !session->ok())
        session = std::make_unique<pg::connection>(shard.url, sampler_settings());
      auto r = session->exec(
          "SELECT gid, (EXTRACT(EPOCH FROM prepared) * 1000)::bigint FROM pg_prepared_xacts WHERE database = "
          "current_database()");
      for (int i = 0; i < r.rows(); ++i) prepared.emplace_back(r.text(i, 0), r.int64(i, 1));
      ok = true;
    } catch (const std::exception&) {
      session.reset();
    }
    const int64_t t = unix_ms();  // after the answer: a transaction listed was in doubt at least until then
    std::unique_lock lock(mutex_);
    if (ok) {
      tracker_.observe(shard.shard, t, prepared);
    } else {
      tracker_.observe_failure(shard.shard, t);
    }
    if (closing) return;
    closing = wake_.wait_until(lock, started + interval_, [this] { return stopping_; });
  }
}

}  // namespace stampede::drill
