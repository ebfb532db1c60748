// Making attacker-controlled report text safe to show: in prose, log lines, mail
// headers and bodies (reliability notes §2.8, CWE-117). Pure string functions; each
// sink picks the one its output needs.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tlsrpt::alerts {

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlongs, surrogates or
// values above U+10FFFF), or 0.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

// One line of valid UTF-8: CR, LF, TAB, ESC and every other C0 control, DEL and C1
// control, and invalid UTF-8 bytes become visible escapes ("\n", "\x1b"); backslash is
// doubled. At most max_bytes of input are shown, then "…" (cut on a character).
std::string escape_line(std::string_view s, std::size_t max_bytes = 4096);

// The longest prefix of at most max_bytes that does not split a UTF-8 character.
std::string_view cut_utf8(std::string_view s, std::size_t max_bytes);

// Valid UTF-8 with every control character (CR, LF, NUL, TAB, ESC, DEL, C1 ...)
// replaced by a space and invalid bytes by U+FFFD: for text that must stay on one
// line without escapes, such as a mail Subject before RFC 2047 encoding.
std::string flatten_line(std::string_view s);

}  // namespace tlsrpt::alerts
