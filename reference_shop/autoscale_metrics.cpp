#include "reference_shop/autoscale_metrics.h"

#include <charconv>
#include <vector>

namespace stampede::shop::autoscale {

namespace {

std::vector<std::string_view> split(std::string_view line, char separator) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t at = line.find(separator, start);
    out.push_back(line.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

int64_t number(std::string_view text) {
  int64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

}  // namespace

std::optional<backend_stat> parse_show_stat(std::string_view csv, std::string_view backend) {
  std::map<std::string_view, size_t> column;
  std::optional<backend_stat> out;
  backend_stat stat;
  size_t start = 0;
  while (start < csv.size()) {
    size_t end = csv.find('\n', start);
    if (end == std::string_view::npos) end = csv.size();
    const std::string_view line = csv.substr(start, end - start);
    start = end + 1;
    if (line.starts_with("# ")) {
      const auto names = split(line.substr(2), ',');
      for (size_t i = 0; i < names.size(); ++i) column[names[i]] = i;
      continue;
    }
    if (line.empty() || column.empty()) continue;
    const auto fields = split(line, ',');
    auto field = [&](std::string_view name) -> std::string_view {
      const auto it = column.find(name);
      return it != column.end() && it->second < fields.size() ? fields[it->second] : std::string_view{};
    };
    if (field("pxname") != backend) continue;
    const std::string_view server = field("svname");
    if (server == "BACKEND") {
      stat.queued = number(field("qcur"));
      stat.total = number(field("stot"));
      out = stat;
    } else if (server != "FRONTEND") {
      stat.servers[std::string{server}] = server_stat{std::string{field("status")}, number(field("scur")),
                                                      number(field("qcur")), number(field("stot"))};
    }
  }
  if (out) out->servers = std::move(stat.servers);
  return out;
}

duration_buckets parse_duration_buckets(std::string_view text) {
  duration_buckets sum{};
  constexpr std::string_view prefix = "shop_http_request_duration_seconds_bucket{";
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!line.starts_with(prefix)) continue;
    if (line.find("route=\"/readyz\"") != std::string_view::npos ||
        line.find("route=\"/healthz\"") != std::string_view::npos ||
        line.find("route=\"/metrics\"") != std::string_view::npos) {
      continue;
    }
    const size_t le = line.find("le=\"");
    const size_t close = line.rfind('}');
    if (le == std::string_view::npos || close == std::string_view::npos) continue;
    const std::string_view bound = line.substr(le + 4, line.find('"', le + 4) - (le + 4));
    size_t index = duration_histograms::bounds.size();  // +Inf
    if (bound != "+Inf") {
      double value = 0;
      std::from_chars(bound.data(), bound.data() + bound.size(), value);
      index = 0;
      while (index < duration_histograms::bounds.size() &&
             duration_histograms::bounds[index] < value * 0.9999) {
        ++index;
      }
    }
    if (index < sum.size()) sum[index] += static_cast<uint64_t>(number(line.substr(close + 2)));
  }
  return sum;
}

duration_buckets bucket_delta(const duration_buckets& now, const duration_buckets& before) {
  duration_buckets out{};
  for (size_t i = 0; i < now.size(); ++i) {
    if (now[i] < before[i]) return now;  // restarted: everything it has is new
    out[i] = now[i] - before[i];
  }
  return out;
}

std::optional<double> p99_ms(const duration_buckets& delta) {
  const auto& bounds = duration_histograms::bounds;
  const uint64_t count = delta.back();
  if (count == 0) return std::nullopt;
  const double rank = 0.99 * static_cast<double>(count);
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (static_cast<double>(delta[i]) >= rank) {
      const double lower = i == 0 ? 0.0 : bounds[i - 1];
      const double below = i == 0 ? 0.0 : static_cast<double>(delta[i - 1]);
      const double in_bucket = static_cast<double>(delta[i]) - below;
      const double share = in_bucket > 0 ? (rank - below) / in_bucket : 1.0;
      return 1000.0 * (lower + (bounds[i] - lower) * share);
    }
  }
  return 1000.0 * bounds.back();
}

}  // namespace stampede::shop::autoscale
