// JSON text as Toxiproxy (Go's encoding/json) writes numbers: integral values as integers ("toxicity":1),
// others as the shortest decimal that reads back to the same double, never with an exponent
// ("toxicity":0.5). Boost.JSON would write 1E0 and 5E-1, which strict clients reject.
// Thread-safety: pure function.
#pragma once

#include <boost/json/value.hpp>
#include <string>

namespace stampede::chaos {

std::string to_json_text(const boost::json::value& value);

// One number as above (non-finite values, which the API never holds, as null).
void append_json_number(std::string& out, double number);

}  // namespace stampede::chaos
