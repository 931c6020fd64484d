// Unicode normalisation (NFC, NFKC, NFD, NFKD) of the text a tokenizer encodes, as the
// Hugging Face normalizers of those names do it; done by utf8proc. Pure and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "tokenizer/vocabulary.h"

namespace weft {

// `text` in normal form `form`. Text that is not valid UTF-8 comes back unchanged (the
// reference tokenizers only ever see valid Unicode strings).
std::string NormalizeUnicode(std::string_view text, NormalForm form);

}  // namespace weft
