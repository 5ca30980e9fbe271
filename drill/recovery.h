// Recovery figures per fault, added to a results document (results.chaos[i].recovery), as the clients
// saw it. The per-second analysis is reports::compute_recovery (one implementation for the report and the
// results file); this adds what only the history knows: operations with an unknown outcome during the fault.
//
// Thread-safety: pure function of its argument.
#pragma once

#include <boost/json/value.hpp>

namespace stampede::drill {

// Adds `recovery` to every element of results["chaos"] (no-op without faults). Never throws for a
// document the reports component cannot read: each fault then gets { "error": "..." }.
void add_recovery(boost::json::value& results);

}  // namespace stampede::drill
