// Text helpers every module shares: UTF-8 validation and safe truncation, ASCII case
// and whitespace, and making attacker-controlled text safe to show in prose, log lines,
// terminals and mail headers (CWE-117; docs/receiver-rules.md#policy-strings-in-alerts).
// Pure string functions, no allocation beyond the result.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tlsrpt {

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlongs, surrogates or
// values above U+10FFFF), or 0.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

// The longest prefix of at most max_bytes that does not split a UTF-8 character.
std::string_view cut_utf8(std::string_view s, std::size_t max_bytes);

// Bidirectional formatting characters (U+200E, U+200F, U+061C, U+202A..U+202E,
// U+2066..U+2069: they reorder what a terminal or mail reader shows, CVE-2021-42574)
// and the line and paragraph separators U+2028, U+2029 (U+0085 is a C1 control): the
// n-byte valid UTF-8 character at s[i] is one of them.
bool is_invisible_format(std::string_view s, std::size_t i, std::size_t n);

// One line of valid UTF-8: CR, LF, TAB, ESC and every other C0 control, DEL and C1
// control, and invalid UTF-8 bytes become visible escapes ("\n", "\x1b"); the
// characters of is_invisible_format() become "\u202e"; backslash is doubled. At most
// max_bytes of input are shown, then "…" (cut on a character).
std::string escape_line(std::string_view s, std::size_t max_bytes = 4096);

// escape_line in double quotes, '"' shown as \", for a value inside a message:
// `"mx1.example.com"`, `"abc\x1b[2J"…`.
std::string quote_value(std::string_view s, std::size_t max_bytes = 64);

// Valid UTF-8 with every control character (CR, LF, NUL, TAB, ESC, DEL, C1 ...) and
// every character of is_invisible_format() replaced by a space and invalid bytes by U+FFFD: for text that must stay on one
// line without escapes, such as a mail Subject before RFC 2047 encoding.
std::string flatten_line(std::string_view s);

// Whitespace as the protocols define it: SP and HTAB (RFC 5234 WSP), or those plus
// CR and LF (JSON, MIME headers).
inline constexpr std::string_view kWsp = " \t";
inline constexpr std::string_view kWspCrLf = " \t\r\n";

// `s` without leading and trailing characters from `chars`.
std::string_view trim(std::string_view s, std::string_view chars = kWspCrLf);

// ASCII-only case folding: DNS names, URI schemes, header names and protocol tokens
// compare this way (never by locale).
char ascii_lower(char c);
std::string ascii_lower(std::string_view s);
std::string ascii_upper(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);
bool iends_with(std::string_view s, std::string_view suffix);

}  // namespace tlsrpt
