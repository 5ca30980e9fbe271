#include "reference_shop/metrics.h"

#include <cstdio>
#include <mutex>

namespace stampede::shop {

namespace {

void append_escaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_number(std::string& out, double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  out += buffer;
}

}  // namespace

void duration_histograms::observe(std::string_view route, std::string_view method, int status, double seconds) {
  series* s = nullptr;
  {
    std::shared_lock lock{mutex_};
    auto it = series_.find(std::make_tuple(route, method, status));
    if (it != series_.end()) s = it->second.get();
  }
  if (s == nullptr) {
    std::unique_lock lock{mutex_};
    auto& slot = series_[key{std::string{route}, std::string{method}, status}];
    if (!slot) slot = std::make_unique<series>();
    s = slot.get();
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (seconds <= bounds[i]) {
      s->buckets[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  s->count.fetch_add(1, std::memory_order_relaxed);
  s->sum_micros.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void duration_histograms::render(std::string& out, std::string_view name, std::string_view help) const {
  write_family_header(out, name, "histogram", help);
  std::shared_lock lock{mutex_};
  const std::string bucket = std::string{name} + "_bucket";
  for (const auto& [k, s] : series_) {
    const auto& [route, method, status] = k;
    const std::string code = std::to_string(status);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds.size(); ++i) {
      cumulative += s->buckets[i].load(std::memory_order_relaxed);
      char le[32];
      std::snprintf(le, sizeof le, "%g", bounds[i]);
      write_sample(out, bucket, {{"route", route}, {"method", method}, {"status", code}, {"le", le}},
                   static_cast<double>(cumulative));
    }
    const uint64_t count = s->count.load(std::memory_order_relaxed);
    write_sample(out, bucket, {{"route", route}, {"method", method}, {"status", code}, {"le", "+Inf"}},
                 static_cast<double>(count));
    write_sample(out, std::string{name} + "_sum", {{"route", route}, {"method", method}, {"status", code}},
                 static_cast<double>(s->sum_micros.load(std::memory_order_relaxed)) / 1e6);
    write_sample(out, std::string{name} + "_count", {{"route", route}, {"method", method}, {"status", code}},
                 static_cast<double>(count));
  }
}

void write_family_header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void write_sample(std::string& out, std::string_view name,
                  std::initializer_list<std::pair<std::string_view, std::string_view>> labels, double value) {
  out += name;
  if (labels.size() > 0) {
    out += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out += ',';
      first = false;
      out += k;
      out += "=\"";
      append_escaped(out, v);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  append_number(out, value);
  out += '\n';
}

}  // namespace stampede::shop
