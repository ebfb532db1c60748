// libFuzzer target for parser/mail: arbitrary bytes as a mail through
// extract_mail_report (GMime underneath), with the default limits and with small
// ones. It checks what callers rely on: the report part stays within the submission
// cap, header values are clean (no control characters, no surrounding blanks,
// within their caps), and a mail without a report part is refused, not half-read.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "parser/mail.hpp"

namespace {

using namespace tlsrpt;

[[noreturn]] void broken(const char* what, int line) {
  std::fprintf(stderr, "fuzz_mail: invariant broken at line %d: %s\n", line, what);
  std::abort();
}
#define REQUIRE(c) ((c) ? (void)0 : broken(#c, __LINE__))

Limits small_limits() {
  Limits l;
  l.max_submission_bytes = 2 * kKiB;
  l.max_identifier_bytes = 24;
  l.max_text_bytes = 40;
  l.max_mail_bytes = 32 * kKiB;
  l.max_mail_header_bytes = 1 * kKiB;
  l.max_mime_parts = 5;
  l.max_mime_depth = 2;
  return l;
}

// What mail.hpp promises of a stored header value.
void check_value(const std::string& v, std::size_t cap, const char* what) {
  if (v.size() > cap) {
    std::fprintf(stderr, "%s: %zu bytes, cap %zu\n", what, v.size(), cap);
    broken("header value within its cap", __LINE__);
  }
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7f) {
      std::fprintf(stderr, "%s: control character 0x%02x in \"%s\"\n", what, c, v.c_str());
      broken("header value without control characters", __LINE__);
    }
  }
  if (!v.empty() && (v.front() == ' ' || v.back() == ' ')) {
    std::fprintf(stderr, "%s: \"%s\"\n", what, v.c_str());
    broken("header value trimmed", __LINE__);
  }
}

void check(const std::expected<MailReport, Error>& r, std::string_view message, const Limits& limits) {
  if (!r) {
    REQUIRE(!r.error().message.empty());
    return;
  }
  REQUIRE(message.size() <= limits.max_mail_bytes);
  REQUIRE(r->attachment.size() <= limits.max_submission_bytes);
  const MailProvenance& p = r->provenance;
  const std::size_t id = limits.max_identifier_bytes, text = limits.max_text_bytes;
  check_value(p.tls_report_domain, id, "tls-report-domain");
  check_value(p.tls_report_submitter, id, "tls-report-submitter");
  check_value(p.subject, text, "subject");
  check_value(p.message_id, id, "message-id");
  check_value(p.from, id, "from");
  check_value(p.date, id, "date");
  check_value(p.filename, id, "filename");
  check_value(p.content_type, id, "content-type");
  for (const auto& v : p.authentication_results) check_value(v, text, "authentication-results");
  for (const auto& v : p.dkim_signatures) check_value(v, text, "dkim-signature");
  REQUIRE(p.dkim_signature_present == !p.dkim_signatures.empty());
  // "type/subtype" of RFC 2045 tokens in lower case, unless the cap cut it before the
  // slash (tokens are ASCII: a cut lands exactly at the cap and trims nothing).
  if (p.content_type.size() < id) REQUIRE(p.content_type.find('/') != std::string::npos);
  for (char c : p.content_type) {
    REQUIRE(c > 0x20 && c < 0x7f);
    REQUIRE(!(c >= 'A' && c <= 'Z'));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view message(reinterpret_cast<const char*>(data), size);
  static const Limits kDefault;
  static const Limits kSmall = small_limits();
  check(extract_mail_report(message, kDefault), message, kDefault);
  check(extract_mail_report(message, kSmall), message, kSmall);
  return 0;
}
