// Unicode helpers for the tokenizers: lenient UTF-8 decoding (invalid bytes never
// abort: each one is reported as a one-byte unit), the GPT-2 byte <-> code point map
// of byte-level BPE, and the character classes and folding of the BERT normaliser.
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace weft {

struct CodepointRange {
  uint32_t first;
  uint32_t last;  // inclusive
};
struct FoldEntry {
  uint32_t cp;
  uint32_t offset;  // into the pool
  uint32_t length;  // code points of the replacement (0: dropped)
};

namespace unicode {

inline constexpr uint32_t kInvalid = 0xFFFFFFFFu;

// Decodes one code point at text[pos]. Sets *len to the bytes used (>= 1). Returns
// kInvalid (with *len = 1) for a byte that does not start a complete, well-formed,
// shortest-form sequence (stray continuation, truncated, overlong, surrogate, > U+10FFFF).
uint32_t DecodeUtf8(std::string_view text, size_t pos, size_t* len);

// Appends the UTF-8 encoding of cp (cp <= 0x10FFFF, not checked for surrogates).
void AppendUtf8(uint32_t cp, std::string* out);

// The length of the longest prefix of `bytes` that does not end inside an incomplete
// (but so far valid) UTF-8 sequence: bytes after it may still be completed by more input.
size_t CompleteUtf8Prefix(std::string_view bytes);

// GPT-2 byte-level map: every byte value to a printable code point ('!'..'~' etc. map to
// themselves, the rest to U+0100 upwards) and back.
uint32_t ByteToCodepoint(uint8_t b);
// The byte for a code point of the map, or -1 if cp is not in it.
int CodepointToByte(uint32_t cp);

// Character classes used by the BERT (WordPiece) pre-tokenizer.
bool IsBertWhitespace(uint32_t cp);   // ' ', \t, \n, \r, category Zs
bool IsBertControl(uint32_t cp);      // category Cc/Cf/Cs/Co except \t \n \r
bool IsBertPunctuation(uint32_t cp);  // ASCII non-alphanumeric printable, or category P*
bool IsCjkIdeograph(uint32_t cp);     // the CJK blocks BERT isolates as single words
// lower(strip_Mn(NFD(cp))) appended to out as UTF-8 (may append nothing).
void AppendBertFolded(uint32_t cp, bool lowercase, bool strip_accents, std::string* out);

}  // namespace unicode
}  // namespace weft
