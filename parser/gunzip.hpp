// Bounded gunzip (RFC 1952) with zlib: the decompressed size and the inflate ratio
// are capped while inflating, so a gzip bomb is refused after at most the cap and
// never holds more than the cap in memory. Concatenated members are accepted.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "parser/error.hpp"
#include "parser/limits.hpp"

namespace tlsrpt {

inline bool has_gzip_magic(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

struct GunzipInfo {
  std::size_t members = 0;  // gzip members inflated (more than one: concatenated)
};

// Bytes reserved past the payload, so a JSON parser needing padding can read the
// buffer in place (simdjson needs 64).
inline constexpr std::size_t kGunzipPadding = 64;

// Inflates `in` into `out` (cleared first; its capacity is reused). On success `out`
// holds the whole payload and out.capacity() >= out.size() + kGunzipPadding; on
// error its content is unspecified. `out` never grows past the cap plus padding.
std::expected<GunzipInfo, Error> gunzip(std::string_view in, std::vector<char>& out, const Limits& limits);

}  // namespace tlsrpt
