#include "distributed/data_files.h"

#include <boost/json.hpp>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>

#include "common/base64.h"

namespace stampede::distributed {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string too_large(size_t total, size_t max_bytes) {
  return "the scenario's data files take " + std::to_string(total) + " bytes, more than the " +
         std::to_string(max_bytes) + " bytes a distributed run sends its agents";
}

// A relative path that stays inside the folder it is taken from: no root, no "..", not empty.
bool stays_inside(const fs::path& relative) {
  if (relative.empty() || relative.is_absolute() || relative.has_root_name()) return false;
  for (const auto& part : relative) {
    if (part == "..") return false;
  }
  return true;
}

}  // namespace

json::array data_files_json(const std::vector<std::string>& files, const fs::path& folder, size_t max_bytes) {
  json::array out;
  size_t total = 0;
  for (const std::string& file : files) {
    const fs::path relative = fs::path(file).lexically_relative(folder);
    if (!stays_inside(relative)) {
      throw std::invalid_argument("data file '" + file + "' is outside the scenario's folder (" +
                                  folder.string() + "): agents get the files inside it only");
    }
    std::ifstream in(file, std::ios::binary);
    const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in && !in.eof()) throw std::invalid_argument("data file '" + file + "': cannot read it");
    total += content.size();
    if (total > max_bytes) throw std::invalid_argument(too_large(total, max_bytes) + " (at '" + file + "')");
    out.emplace_back(json::object{
        {"path", relative.generic_string()},
        {"content",
         base64_encode(std::span(reinterpret_cast<const uint8_t*>(content.data()), content.size()))}});
  }
  return out;
}

void write_data_files(const json::value& files, const fs::path& dir, size_t max_bytes) {
  if (!files.is_array()) throw std::invalid_argument("plan.files: expected an array");
  size_t total = 0;
  const json::array& list = files.as_array();
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = "plan.files[" + std::to_string(i) + "]";
    const json::object* o = list[i].if_object();
    const json::value* path = o ? o->if_contains("path") : nullptr;
    const json::value* content = o ? o->if_contains("content") : nullptr;
    if (!path || !path->is_string() || !content || !content->is_string())
      throw std::invalid_argument(at + ": expected {\"path\", \"content\"} strings");
    const fs::path relative = std::string(path->as_string());
    if (!stays_inside(relative)) {
      throw std::invalid_argument(at + ".path: '" + relative.string() +
                                  "' is absolute or leaves the scenario's folder: refused");
    }
    const auto bytes = base64_decode(content->as_string());
    if (!bytes) throw std::invalid_argument(at + ".content: not base64");
    total += bytes->size();
    if (total > max_bytes) throw std::invalid_argument(at + ": " + too_large(total, max_bytes));
    const fs::path target = dir / relative;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes->data()), static_cast<std::streamsize>(bytes->size()));
    if (!out) throw std::invalid_argument(at + ": cannot write '" + target.string() + "'");
  }
}

}  // namespace stampede::distributed
