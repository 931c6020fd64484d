#include "tokenizer/normalizer.h"

#include <cstdlib>

#include <utf8proc.h>

namespace weft {

std::string NormalizeUnicode(std::string_view text, NormalForm form) {
  if (form == NormalForm::kNone) return std::string(text);
  // utf8proc's options for each NormalForm, in the enum's order.
  static constexpr int kOptions[] = {0, UTF8PROC_COMPOSE, UTF8PROC_COMPOSE | UTF8PROC_COMPAT, UTF8PROC_DECOMPOSE,
                                     UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT};
  const int options = UTF8PROC_STABLE | kOptions[static_cast<int>(form)];
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                    static_cast<utf8proc_ssize_t>(text.size()), &out,
                                    static_cast<utf8proc_option_t>(options));
  if (n < 0) return std::string(text);  // invalid UTF-8 (out is not allocated)
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

}  // namespace weft
