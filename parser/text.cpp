#include "parser/text.hpp"

#include <cstdio>

namespace tlsrpt {

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto cont = [&](std::size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;
    if (c == 0xED && b(1) > 0x9F) return 0;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;
    if (c == 0xF4 && b(1) > 0x8F) return 0;
    return 4;
  }
  return 0;
}

namespace {

// U+0080..U+009F, encoded as C2 80..C2 9F: C1 controls (CSI is U+009B).
bool is_c1(std::string_view s, std::size_t i, std::size_t n) {
  return n == 2 && static_cast<unsigned char>(s[i]) == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0;
}

}  // namespace

bool is_invisible_format(std::string_view s, std::size_t i, std::size_t n) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  if (n == 2) return b(0) == 0xD8 && b(1) == 0x9C;  // U+061C ARABIC LETTER MARK
  if (n != 3 || b(0) != 0xE2) return false;
  if (b(1) == 0x80) {
    const unsigned char c = b(2);
    return c == 0x8E || c == 0x8F ||  // U+200E, U+200F: LRM, RLM
           c == 0xA8 || c == 0xA9 ||  // U+2028, U+2029: line and paragraph separator
           (c >= 0xAA && c <= 0xAE);  // U+202A..U+202E: embeddings and overrides
  }
  return b(1) == 0x81 && b(2) >= 0xA6 && b(2) <= 0xA9;  // U+2066..U+2069: isolates
}

namespace {

// "\u202e": the code point of a 2- or 3-byte character.
void append_code_point(std::string& out, std::string_view s, std::size_t i, std::size_t n) {
  auto b = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(s[i + k])); };
  const unsigned cp = n == 2 ? ((b(0) & 0x1F) << 6) | (b(1) & 0x3F)
                             : ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
  char buf[12];
  std::snprintf(buf, sizeof buf, "\\u%04x", cp);
  out += buf;
}

void append_hex(std::string& out, unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", c);
  out += buf;
}

// One ASCII character of escape_line; `quote` also escapes '"'.
void append_escaped_ascii(std::string& out, unsigned char c, bool quote) {
  switch (c) {
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    case '\\': out += "\\\\"; break;
    case '"': out += quote ? "\\\"" : "\""; break;
    default:
      if (c < 0x20 || c == 0x7f) append_hex(out, c);
      else out.push_back(static_cast<char>(c));
  }
}

// The byte or n-byte character at s[i] (n = 0: an invalid byte).
void append_escaped(std::string& out, std::string_view s, std::size_t i, std::size_t n, bool quote) {
  if (n == 0) {
    append_hex(out, static_cast<unsigned char>(s[i]));
  } else if (is_c1(s, i, n)) {
    append_hex(out, static_cast<unsigned char>(s[i]));
    append_hex(out, static_cast<unsigned char>(s[i + 1]));
  } else if (is_invisible_format(s, i, n)) {
    append_code_point(out, s, i, n);
  } else if (n > 1) {
    out.append(s.substr(i, n));
  } else {
    append_escaped_ascii(out, static_cast<unsigned char>(s[i]), quote);
  }
}

std::string escape(std::string_view s, std::size_t max_bytes, bool quote) {
  std::string out;
  out.reserve((s.size() < max_bytes ? s.size() : max_bytes) + 2);
  if (quote) out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t n = utf8_sequence_length(s, i);
    if (i + (n ? n : 1) > max_bytes) break;
    append_escaped(out, s, i, n, quote);
    i += n ? n : 1;
  }
  if (quote) out.push_back('"');
  if (i < s.size()) out += "\xE2\x80\xA6";  // …
  return out;
}

}  // namespace

std::string escape_line(std::string_view s, std::size_t max_bytes) { return escape(s, max_bytes, false); }

std::string quote_value(std::string_view s, std::size_t max_bytes) { return escape(s, max_bytes, true); }

std::string_view cut_utf8(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t end = max_bytes;
  // Step back over continuation bytes to the start of the character that is cut.
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

std::string flatten_line(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(s[i]);
    if ((n == 1 && (c < 0x20 || c == 0x7f)) || is_c1(s, i, n) || is_invisible_format(s, i, n)) out.push_back(' ');
    else out.append(s.substr(i, n));
    i += n;
  }
  return out;
}

std::string_view trim(std::string_view s, std::string_view chars) {
  auto b = s.find_first_not_of(chars);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(chars) - b + 1);
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool iends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

}  // namespace tlsrpt
