#include "drill/work_dir.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace stampede::drill {

namespace fs = std::filesystem;

namespace {

constexpr const char* owner_file = ".stampede-drill-owner";
constexpr std::string_view prefix = "stampede-drill-";

// Field 22 of /proc/PID/stat (clock ticks after boot): with the pid, it names one process for its lifetime.
// Empty when there is no such process.
std::string start_time_of(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!in || !std::getline(in, text)) return {};
  const size_t paren = text.rfind(')');  // the command name may contain spaces and parentheses
  if (paren == std::string::npos) return {};
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) return field;
  }
  return {};
}

}  // namespace

work_dir::work_dir(bool keep, const fs::path& parent) : keep_(keep) {
  std::string pattern = (parent / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create a temporary directory under " + parent.string());
  path_ = pattern;
  if (keep_) return;
  const long self = static_cast<long>(::getpid());
  std::ofstream out(path_ / owner_file);
  out << self << ' ' << start_time_of(self) << '\n';
  if (!out) throw std::runtime_error("cannot write " + (path_ / owner_file).string());
}

void work_dir::let_other_users_enter() const {
  std::error_code ec;
  fs::permissions(path_, fs::perms::others_exec, fs::perm_options::add, ec);
  if (ec) throw std::runtime_error("cannot open " + path_.string() + " to the database's user: " + ec.message());
}

work_dir::~work_dir() {
  std::error_code ec;
  if (!keep_) fs::remove_all(path_, ec);
}

int remove_stale_work_dirs(const fs::path& parent) {
  std::vector<fs::path> stale;
  std::error_code ec;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code type_ec;
    if (name.rfind(prefix, 0) != 0 || !it->is_directory(type_ec)) continue;
    std::ifstream in(it->path() / owner_file);
    long pid = 0;
    std::string started;
    if (!(in >> pid >> started) || pid <= 0) continue;  // no owner: kept, being created, or not ours
    if (start_time_of(pid) == started) continue;         // its drill still runs
    stale.push_back(it->path());
  }
  int removed = 0;
  for (const auto& dir : stale) {
    std::error_code rm;
    fs::remove_all(dir, rm);
    if (!rm) ++removed;
  }
  return removed;
}

}  // namespace stampede::drill
