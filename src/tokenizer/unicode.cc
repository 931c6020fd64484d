#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>

namespace weft::unicode_data {
extern const uint32_t kBertFoldPool[];
extern const FoldEntry kBertFold[];
extern const size_t kBertFoldSize;
extern const CodepointRange kPunctuationRanges[];
extern const size_t kPunctuationRangesSize;
extern const CodepointRange kOtherRanges[];
extern const size_t kOtherRangesSize;
extern const CodepointRange kSpaceSeparatorRanges[];
extern const size_t kSpaceSeparatorRangesSize;
}  // namespace weft::unicode_data

namespace weft::unicode {
namespace {

bool InRanges(const CodepointRange* ranges, size_t n, uint32_t cp) {
  const CodepointRange* end = ranges + n;
  const CodepointRange* it =
      std::upper_bound(ranges, end, cp, [](uint32_t v, const CodepointRange& r) { return v < r.first; });
  return it != ranges && cp <= (it - 1)->last;
}

struct ByteMaps {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 324> from_cp{};  // code points used are < 0x144
  ByteMaps() {
    from_cp.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = printable ? static_cast<uint32_t>(b) : next++;
      from_cp[to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};
const ByteMaps& GetByteMaps() {
  static const ByteMaps maps;
  return maps;
}

}  // namespace

uint32_t DecodeUtf8(std::string_view text, size_t pos, size_t* len) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  size_t n = text.size() - pos;
  uint8_t c = s[pos];
  *len = 1;
  if (c < 0x80) return c;
  size_t need;
  uint32_t cp, min;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2, cp = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3, cp = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return kInvalid;
  }
  if (n < need) return kInvalid;
  for (size_t i = 1; i < need; ++i) {
    uint8_t cc = s[pos + i];
    if ((cc & 0xC0) != 0x80) return kInvalid;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return kInvalid;
  *len = need;
  return cp;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t CompleteUtf8Prefix(std::string_view bytes) {
  // Look back at most 3 bytes for the start of a sequence that is valid so far but
  // still lacks continuation bytes.
  size_t n = bytes.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    auto c = static_cast<uint8_t>(bytes[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: keep looking for the lead
    size_t need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 1;
    if (need <= back) return n;  // complete (or not a lead byte at all)
    // Check that what we have is a valid beginning (second-byte limits included).
    if (back >= 2) {
      auto c1 = static_cast<uint8_t>(bytes[n - back + 1]);
      if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
          (c == 0xF4 && c1 > 0x8F))
        return n;  // invalid already: no later byte can complete it
    }
    return n - back;
  }
  return n;
}

uint32_t ByteToCodepoint(uint8_t b) { return GetByteMaps().to_cp[b]; }

int CodepointToByte(uint32_t cp) {
  const auto& m = GetByteMaps();
  return cp < m.from_cp.size() ? m.from_cp[cp] : -1;
}

bool IsBertWhitespace(uint32_t cp) {
  if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return true;
  return InRanges(unicode_data::kSpaceSeparatorRanges, unicode_data::kSpaceSeparatorRangesSize, cp);
}

bool IsBertControl(uint32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  return InRanges(unicode_data::kOtherRanges, unicode_data::kOtherRangesSize, cp);
}

bool IsBertPunctuation(uint32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
    return true;
  return InRanges(unicode_data::kPunctuationRanges, unicode_data::kPunctuationRangesSize, cp);
}

bool IsCjkIdeograph(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

void AppendBertFolded(uint32_t cp, bool lowercase, bool strip_accents, std::string* out) {
  if (cp >= 0xAC00 && cp <= 0xD7A3 && strip_accents) {  // Hangul syllable: L V [T] jamo
    uint32_t s = cp - 0xAC00;
    AppendUtf8(0x1100 + s / (21 * 28), out);
    AppendUtf8(0x1161 + (s % (21 * 28)) / 28, out);
    if (s % 28 != 0) AppendUtf8(0x11A7 + s % 28, out);
    return;
  }
  if (lowercase && strip_accents) {
    const FoldEntry* begin = unicode_data::kBertFold;
    const FoldEntry* end = begin + unicode_data::kBertFoldSize;
    const FoldEntry* it = std::lower_bound(begin, end, cp, [](const FoldEntry& e, uint32_t v) { return e.cp < v; });
    if (it != end && it->cp == cp) {
      for (uint32_t i = 0; i < it->length; ++i) AppendUtf8(unicode_data::kBertFoldPool[it->offset + i], out);
      return;
    }
    AppendUtf8(cp, out);
    return;
  }
  // Without both options only ASCII lowercasing is offered (no BERT vocabulary weft
  // knows uses the other combinations).
  if (lowercase && cp >= 'A' && cp <= 'Z') cp += 32;
  AppendUtf8(cp, out);
}

}  // namespace weft::unicode
