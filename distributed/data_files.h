// A distributed run's data files (docs/DISTRIBUTED.md, "Data files"): the files the scenario's top level
// reads with open() on the coordinator (the sandbox notes them: loadgen/lua_sandbox.h) travel in the plan to
// every agent, which writes them beside its copy of the script, at the same paths relative to it, so open()
// finds them there. The sandbox already keeps open() inside the scenario's folder; both ends check again.
//
// Thread-safety: pure functions (and the agent's own directory).
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace stampede::distributed {

// At most this many bytes of data files per run (before base64: the plan must fit a response the agent
// reads).
inline constexpr size_t max_data_bytes = 32u * 1024 * 1024;

// Coordinator: `files` (resolved paths) as [{"path": relative to `folder`, "content": base64}]. Throws
// std::invalid_argument naming the file when one is outside `folder` or cannot be read, or when together they
// pass `max_bytes`.
boost::json::array data_files_json(const std::vector<std::string>& files, const std::filesystem::path& folder,
                                   size_t max_bytes = max_data_bytes);

// Agent: writes the plan's files under `dir`. Throws std::invalid_argument naming the entry for a path that
// is empty, absolute or climbs out (a ".." component), content that is not base64, more than `max_bytes`
// together, or a file it cannot write.
void write_data_files(const boost::json::value& files, const std::filesystem::path& dir,
                      size_t max_bytes = max_data_bytes);

}  // namespace stampede::distributed
