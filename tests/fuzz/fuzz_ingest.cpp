// libFuzzer target for parser/ingest: arbitrary bytes through Ingestor::ingest, the
// one entry every channel uses (gzip, JSON, or a mail holding a report). It checks
// the promises dedupe and storage rely on, not the verdicts: an accepted report's
// canonical JSON ingests again to the same report and content hash (also gzipped),
// counts stay within I-JSON's 2^53-1, and tighter limits never accept more.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "parser/ingest.hpp"
#include "parser/report.hpp"

namespace {

using namespace tlsrpt;

[[noreturn]] void broken(const char* what, int line) {
  std::fprintf(stderr, "fuzz_ingest: invariant broken at line %d: %s\n", line, what);
  std::abort();
}
#define REQUIRE(c) ((c) ? (void)0 : broken(#c, __LINE__))

// Small limits, so short inputs reach every cap (the seeds are real reports).
Limits small_limits() {
  Limits l;
  l.max_submission_bytes = 64 * kKiB;
  l.max_report_bytes = 128 * kKiB;
  l.max_inflate_ratio = 20;
  l.ratio_grace_bytes = 4 * kKiB;
  l.max_json_depth = 8;
  l.max_json_values = 400;
  l.max_policies = 3;
  l.max_failure_details = 4;
  l.max_policy_strings = 6;
  l.max_identifier_bytes = 64;
  l.max_text_bytes = 48;
  l.max_notes = 3;
  l.max_mail_bytes = 64 * kKiB;
  l.max_mail_header_bytes = 2 * kKiB;
  l.max_mime_parts = 6;
  l.max_mime_depth = 3;
  return l;
}

// One Ingestor per limit set for the whole run, as each daemon thread keeps one:
// buffer reuse across inputs is part of what is tested.
Ingestor& ingestor() {
  static Ingestor i;
  return i;
}
Ingestor& small_ingestor() {
  static Ingestor i(small_limits());
  return i;
}
Ingestor& checker() {  // re-ingests canonical forms, so it never disturbs the others' state
  static Ingestor i;
  return i;
}

std::string gzip(std::string_view in) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

void check_counts(const Report& r) {
  for (const auto& p : r.policies) {
    REQUIRE(p.summary.successful <= kMaxCount);
    REQUIRE(p.summary.failed <= kMaxCount);
    for (const auto& f : p.failures) REQUIRE(f.failed_session_count <= kMaxCount);
  }
}

void check_accepted(const Ingested& in, const Limits& limits) {
  const Report& r = in.parsed.report;
  check_counts(r);
  REQUIRE(r.policies.size() <= limits.max_policies);
  std::size_t details = 0;
  for (const auto& p : r.policies) details += p.failures.size();
  REQUIRE(details <= limits.max_failure_details);
  REQUIRE(in.parsed.notes.size() <= limits.max_notes + 1 + 8);  // + the summary note, + ingest/mail notes
  REQUIRE(in.content_sha256.size() == 64 && is_lower_hex(in.content_sha256));
  REQUIRE(!in.canonical_json.empty());

  // The canonical form is the dedupe identity: it must read back as the same report,
  // or the same report submitted twice (once as stored, once re-sent) would be a
  // "conflict" rather than a duplicate.
  auto again = checker().ingest(in.canonical_json);
  if (!again) {
    std::fprintf(stderr, "canonical JSON refused: %s\n%s\n", again.error().text().c_str(), in.canonical_json.c_str());
    broken("canonical JSON ingests again", __LINE__);
  }
  if (again->parsed.report != r || again->content_sha256 != in.content_sha256) {
    std::fprintf(stderr, "first:  %s\nsecond: %s\n", in.canonical_json.c_str(), again->canonical_json.c_str());
    broken("canonical JSON re-ingests to the same report and hash", __LINE__);
  }
  REQUIRE(again->canonical_json == in.canonical_json);
  REQUIRE(!again->was_gzip && !again->mail);

  // The same content gzipped (RFC 8460 §5.4 application/tlsrpt+gzip) is the same report.
  if (in.canonical_json.size() <= 256 * kKiB) {
    auto gz = checker().ingest(gzip(in.canonical_json));
    REQUIRE(gz.has_value());
    REQUIRE(gz->was_gzip);
    REQUIRE(gz->content_sha256 == in.content_sha256);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  auto r = ingestor().ingest(bytes);
  if (r) {
    check_accepted(*r, ingestor().limits());
  } else {
    REQUIRE(!r.error().message.empty());
  }

  auto s = small_ingestor().ingest(bytes);
  if (s) {
    check_accepted(*s, small_ingestor().limits());
    // Tighter limits may refuse more, never less (text caps truncate, so the two
    // reports may differ; whether they are accepted may not).
    REQUIRE(r.has_value());
  } else {
    REQUIRE(!s.error().message.empty());
  }
  return 0;
}
