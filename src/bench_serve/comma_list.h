// SplitCommaList: "a,b,,c" -> {"a", "b", "", "c"} ("" -> {""}): the items of a flag's
// comma-separated value (--concurrency 1,4,16, --slo ttft=1s,tpot=100ms), empty items
// kept so that the parser can reject them by name.
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <vector>

namespace weft::bench_serve {

std::vector<std::string> SplitCommaList(const std::string& text);

}  // namespace weft::bench_serve
