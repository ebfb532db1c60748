// Bounded gunzip (RFC 1952) with zlib: the decompressed size and the inflate ratio
// are capped while inflating, so a gzip bomb is refused after at most the cap and
// never holds more than the cap in memory. Concatenated members are accepted.
#pragma once

#include <expected>
#include <string>
#include <string_view>

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

// Inflates `in` into `out` (cleared first; its capacity is reused). On success `out`
// holds the whole payload; on error its content is unspecified.
std::expected<GunzipInfo, Error> gunzip(std::string_view in, std::string& out, const Limits& limits);

}  // namespace tlsrpt
