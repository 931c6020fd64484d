#include "bench_serve/comma_list.h"

namespace weft::bench_serve {

std::vector<std::string> SplitCommaList(const std::string& text) {
  std::vector<std::string> items;
  size_t pos = 0;
  for (;;) {
    const size_t end = text.find(',', pos);
    if (end == std::string::npos) {
      items.push_back(text.substr(pos));
      return items;
    }
    items.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
}

}  // namespace weft::bench_serve
