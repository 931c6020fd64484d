// UTF-8 and Python-string helpers for the Jinja interpreter: code-point indexing
// (Python's len() and slicing count code points), whitespace as str.strip() sees it,
// ASCII case mapping, and Python's repr quoting.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weft::jinja {

// Decodes UTF-8 leniently: an invalid byte becomes U+FFFD-free raw code (the byte
// value), so every input round-trips through EncodeUtf8.
std::vector<char32_t> DecodeUtf8(std::string_view s);
void AppendUtf8(char32_t cp, std::string* out);
std::string EncodeUtf8(const std::vector<char32_t>& cps, size_t begin, size_t end);
bool IsAscii(std::string_view s);
size_t Utf8Length(std::string_view s);  // in code points

bool IsPyWhitespace(char32_t c);
// str.strip()/lstrip()/rstrip(): chars == nullptr strips whitespace.
std::string PyStrip(std::string_view s, const std::string* chars, bool left, bool right);
// str.upper()/lower() (names kept from the ASCII-only version): ASCII, Latin-1,
// Latin Extended-A, Greek and Cyrillic are mapped; other scripts pass through.
std::string AsciiUpper(std::string_view s);
std::string AsciiLower(std::string_view s);
// str.islower() (lower=true) / str.isupper(): has cased characters, all of that case.
bool HasCased(std::string_view s, bool lower);
// Jinja2's `capitalize` (first upper, rest lower) and `title`.
std::string PyCapitalize(std::string_view s);
std::string PyTitle(std::string_view s);
// str.split(sep) / str.split() with maxsplit (-1 = all).
std::vector<std::string> PySplit(std::string_view s, const std::string* sep, int64_t maxsplit);
// str.splitlines() (keepends=False).
std::vector<std::string> PySplitLines(std::string_view s);
std::string PyReplace(std::string_view s, std::string_view from, std::string_view to, int64_t count);
// Python repr of a str: 'it''s' quoting rules, escapes.
void AppendPyStringRepr(std::string_view s, std::string* out);

}  // namespace weft::jinja
