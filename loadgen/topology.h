// A topology file: the links and processes of a system under test, for faults (`stampede run --topology`,
// `stampede drill --topology`). One format for the reference shop (whose supervisor writes it) and for a
// user's own system (written by hand). JSON:
//   {
//     "entry_url": "http://127.0.0.1:8080",                        optional: the system's entry point
//     "links": [ { "name": "app_db", "listen": "127.0.0.1:15432", "upstream": "127.0.0.1:5432" } ],
//     "nodes": [ { "name": "app1", "pid": 1234 },
//                { "name": "app2", "pid_file": "/run/app2.pid" },
//                { "name": "db", "commands": { "kill": "...", "terminate": "...", "pause": "...",
//                                              "resume": "...", "restart": "...", "health": "..." } } ],
//     "haproxy": { "pid": 1 }, "payment_emulator": { "pid": 2 },   the reference shop's extra processes
//     "redis": { "pid": 3 }                                         (with `stampede shop --cache redis`)
//   }
// A link is a fault proxy that listens on `listen` and forwards to `upstream`; the system is configured to
// reach `upstream` through `listen`. A node is a process (or anything a shell command can act on): a fault
// uses its command when it has one, else a signal to its pid. Other keys (the shop's ports, URLs, token)
// are allowed and ignored. See docs/DRILLS.md.
//
// Thread-safety: plain values.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace stampede::loadgen {

struct topology_link {
  std::string name;
  std::string listen;    // host:port where the fault proxy listens
  std::string upstream;  // host:port it forwards to
  std::string from, to;  // optional, descriptive
};

struct topology_node_commands {
  std::string kill, terminate, pause, resume, restart, health;  // shell commands (/bin/sh -c); empty: none
};

struct topology_node {
  std::string name;
  pid_t pid = 0;
  std::string pid_file;
  topology_node_commands commands;
  // Whether `fault` (kill, terminate, pause, restart) can be applied: a command or a pid to signal.
  bool supports(std::string_view fault) const;
};

struct topology {
  std::string entry_url;
  std::vector<topology_link> links;
  std::vector<topology_node> nodes;  // with a shop topology: node1..N, haproxy, payment_emulator, redis
                                     // (--ha patroni: also pg1.., primary, etcd from "database_nodes")
  const topology_node* node(std::string_view name) const;
  const topology_link* link(std::string_view name) const;
};

// Parses a topology document. Throws std::invalid_argument naming the bad field (`links[2].listen: ...`).
topology parse_topology(std::string_view json_text);

}  // namespace stampede::loadgen
