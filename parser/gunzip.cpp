// zlib inflate with windowBits 16+MAX_WBITS (gzip only, CRC32 and ISIZE checked by
// zlib). The output cap is checked after every inflate() call (docs/guarantees.md#limits-and-deadlines).
#include "parser/gunzip.hpp"

#include <zlib.h>

#include <algorithm>
#include <optional>

namespace tlsrpt {
namespace {

constexpr std::size_t kFirstChunk = 64 * kKiB;

struct Inflater {
  z_stream zs{};
  bool ready = false;
  ~Inflater() {
    if (ready) inflateEnd(&zs);
  }
};

Error gz_error(RejectReason reason, std::string message) {
  return Error{reason, "", std::move(message)};
}

// Sets the size of `out`, allocating exactly what is asked (plus padding) when it
// must grow: a string's or vector's geometric growth could double past the cap.
constexpr std::size_t kWholeCapAbove = 1024 * 1024;

void resize_exact(std::vector<char>& out, std::size_t size) {
  if (size + kGunzipPadding > out.capacity()) {
    std::vector<char> bigger;
    bigger.reserve(size + kGunzipPadding);
    bigger.assign(out.begin(), out.end());
    out.swap(bigger);
  }
  out.resize(size);
}

// The first buffer: the trailer's ISIZE (RFC 1952 §2.3.1) is only a hint, since a
// bomb may lie; the buffer then grows by doubling up to the cap.
std::size_t size_hint(std::string_view in) {
  if (in.size() < 18) return kFirstChunk;
  const auto* t = reinterpret_cast<const unsigned char*>(in.data() + in.size() - 4);
  std::size_t hint = std::size_t{t[0]} | std::size_t{t[1]} << 8 | std::size_t{t[2]} << 16 | std::size_t{t[3]} << 24;
  return std::clamp<std::size_t>(hint + 1, 4 * kKiB, kFirstChunk * 16);
}

// Doubles the full buffer, never past cap + 1 (the extra byte tells "exactly cap"
// from "over cap"). Past 1 MiB (no real report is that big; a bomb is) the whole cap
// is reserved at once: address space, not memory, since pages are only touched as
// the window grows, and no later growth copies. Doubling by copying would hold the
// old and the new buffer together, up to 1.5x the cap, at the last step.
void grow(std::vector<char>& out, std::size_t cap) {
  const std::size_t want = std::min(cap + 1, out.size() * 2);
  if (want > kWholeCapAbove && out.capacity() < cap + 1 + kGunzipPadding) {
    std::vector<char> whole;
    whole.reserve(cap + 1 + kGunzipPadding);
    whole.assign(out.begin(), out.end());
    out.swap(whole);
  }
  resize_exact(out, want);
}

Error too_large(std::size_t cap) {
  return gz_error(RejectReason::too_large, "decompressed report is larger than " + std::to_string(cap) + " bytes");
}

// After each inflate() call: the output cap and the expansion ratio.
std::optional<Error> check_output(std::size_t produced, std::size_t consumed, const Limits& limits) {
  if (produced > limits.max_report_bytes) return too_large(limits.max_report_bytes);
  if (produced > limits.ratio_grace_bytes && produced / std::max<std::size_t>(consumed, 1) > limits.max_inflate_ratio)
    return gz_error(RejectReason::gzip_ratio,
                    "gzip expands more than " + std::to_string(limits.max_inflate_ratio) + " times (a gzip bomb?)");
  return std::nullopt;
}

// What an inflate() result other than Z_OK and Z_STREAM_END means, given that the
// output buffer had room.
Error inflate_error(int rc, const z_stream& zs) {
  // No progress with room left on both sides cannot happen; with the input used up
  // it means the stream ended early.
  if (rc == Z_BUF_ERROR) return gz_error(RejectReason::gzip_truncated, "gzip stream is truncated");
  std::string msg = zs.msg ? zs.msg : "inflate error";
  if (rc == Z_DATA_ERROR) return gz_error(RejectReason::gzip_corrupt, "corrupt gzip data: " + msg);
  return gz_error(RejectReason::gzip_corrupt, "gzip error: " + msg);
}

}  // namespace

std::expected<GunzipInfo, Error> gunzip(std::string_view in, std::vector<char>& out, const Limits& limits) {
  out.clear();
  if (in.empty()) return std::unexpected(gz_error(RejectReason::empty, "empty gzip stream"));
  if (in.size() > limits.max_submission_bytes)
    return std::unexpected(gz_error(RejectReason::too_large, "compressed report is larger than " +
                                                                 std::to_string(limits.max_submission_bytes) +
                                                                 " bytes"));
  Inflater inf;
  if (inflateInit2(&inf.zs, 16 + MAX_WBITS) != Z_OK)
    return std::unexpected(gz_error(RejectReason::gzip_corrupt, "zlib could not start"));
  inf.ready = true;

  const std::size_t cap = limits.max_report_bytes;
  inf.zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  inf.zs.avail_in = static_cast<uInt>(in.size());
  GunzipInfo info;
  std::size_t produced = 0;
  resize_exact(out, std::min(cap + 1, size_hint(in)));
  for (;;) {
    if (produced == out.size()) {
      if (out.size() > cap) return std::unexpected(too_large(cap));
      grow(out, cap);
    }
    inf.zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    inf.zs.avail_out = static_cast<uInt>(out.size() - produced);
    int rc = inflate(&inf.zs, Z_NO_FLUSH);
    produced = out.size() - inf.zs.avail_out;
    if (auto e = check_output(produced, in.size() - inf.zs.avail_in, limits)) return std::unexpected(std::move(*e));
    if (rc == Z_STREAM_END) {
      ++info.members;
      if (inf.zs.avail_in == 0) break;
      // Concatenated members (RFC 1952 §2.2) are one payload; anything else after
      // the first member is garbage.
      std::string_view rest(reinterpret_cast<const char*>(inf.zs.next_in), inf.zs.avail_in);
      if (!has_gzip_magic(rest))
        return std::unexpected(gz_error(RejectReason::gzip_corrupt,
                                        std::to_string(rest.size()) + " bytes of trailing data after the gzip stream"));
      if (inflateReset(&inf.zs) != Z_OK)
        return std::unexpected(gz_error(RejectReason::gzip_corrupt, "zlib could not reset"));
      continue;
    }
    if (rc == Z_OK || (rc == Z_BUF_ERROR && inf.zs.avail_out == 0)) continue;  // a full buffer grows at the top
    return std::unexpected(inflate_error(rc, inf.zs));
  }
  out.resize(produced);  // shrinking keeps the capacity, so the padding stays
  return info;
}

}  // namespace tlsrpt
