// libFuzzer target for the one intake stage (daemon/intake/intake.hpp): arbitrary
// bytes through Intake::check on every channel, with and without served domains,
// small limits, a per-domain path and each DKIM policy. No DKIM verifier is given
// (no DNS in a fuzzer): a mail's check is then a temporary error, which the policy
// turns into retry-later (require), unauthenticated (record) or unchecked (off).
// It checks the promises the store and the replies rely on, not the verdicts:
//  - a report goes on (store/hold) only when ingest alone accepts the same bytes,
//    with the same content hash (attribution never changes the content identity);
//  - what goes on counts only served or unattributed policies, a subset of the
//    report's, and a report with nothing served is refused;
//  - HTTPS is never authenticated and never held; the admin's word always is;
//    without a verifier no mail is authenticated;
//  - nothing dated more than kMaxReportAhead after its receipt goes on;
//  - a refusal is a failure row of the reply table.
// Input: [flags][bytes]; flags & 7 the channel, 0x08 served domains, 0x10 small
// limits, 0x20 a per-domain path, 0x40/0x80 the DKIM policy.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/intake/intake.hpp"
#include "daemon/protocol/report_checks.hpp"

namespace {

using namespace tlsrpt;
using namespace tlsrpt::daemon;

[[noreturn]] void broken(const char* what, int line) {
  std::fprintf(stderr, "fuzz_intake: invariant broken at line %d: %s\n", line, what);
  std::abort();
}
#define REQUIRE(c) ((c) ? (void)0 : broken(#c, __LINE__))

// 2027-01-01T00:00:00Z: after every seed's date-range, so the date rule is reachable.
constexpr std::chrono::sys_seconds kNow{std::chrono::seconds{1798761600}};

constexpr Transport kChannels[] = {Transport::https, Transport::smtp,   Transport::lmtp,
                                   Transport::maildir, Transport::import, Transport::https,
                                   Transport::smtp,  Transport::import};

Limits small_limits() {
  Limits l;
  l.max_submission_bytes = 16 * kKiB;
  l.max_report_bytes = 64 * kKiB;
  l.max_inflate_ratio = 20;
  l.ratio_grace_bytes = 4 * kKiB;
  l.max_policies = 3;
  l.max_failure_details = 4;
  l.max_identifier_bytes = 64;
  l.max_text_bytes = 48;
  l.max_mail_bytes = 32 * kKiB;
  l.max_mime_parts = 6;
  return l;
}

IntakeRules rules_from(std::uint8_t flags) {
  IntakeRules r;
  if (flags & 0x08) r.domains = {"example.com", "xn--bcher-kva.example"};
  if (flags & 0x10) r.limits = small_limits();
  r.dkim = (flags & 0x80) ? DkimPolicy::off : (flags & 0x40) ? DkimPolicy::record : DkimPolicy::require;
  return r;
}

bool is_mail_channel(Transport t) { return t == Transport::smtp || t == Transport::lmtp || t == Transport::maildir; }

void check_decision(const Submission& sub, const IntakeRules& rules, const IntakeDecision& d) {
  if (d.kind == IntakeDecision::Kind::reject || d.kind == IntakeDecision::Kind::retry_later) {
    REQUIRE(!reply_for(d.outcome).success());
    if (d.kind == IntakeDecision::Kind::retry_later) REQUIRE(reply_for(d.outcome).retry_later());
    return;
  }
  REQUIRE(d.report.has_value());
  Ingestor alone(rules.limits);
  auto plain = alone.ingest(sub.bytes);
  REQUIRE(plain.has_value());
  REQUIRE(plain->content_sha256 == d.report->content_sha256);
  const Report& r = d.report->parsed.report;
  REQUIRE(r.policies.size() <= plain->parsed.report.policies.size());
  REQUIRE(!plain->parsed.report.policies.empty() ? !r.policies.empty() : r.policies.empty());
  for (const auto& p : r.policies) REQUIRE(p.policy.domain.empty() || is_served(p.policy.domain, rules.domains));
  REQUIRE(r.date_range.start <= sub.received_at + kMaxReportAhead);
  REQUIRE(d.report_id == r.report_id);
  if (sub.authority == Authority::admin) {
    REQUIRE(d.kind == IntakeDecision::Kind::store);
    REQUIRE(d.provenance.authenticated && d.provenance.signing_domain.empty());
  } else if (!is_mail_channel(sub.transport)) {
    REQUIRE(d.kind == IntakeDecision::Kind::store);
    REQUIRE(!d.provenance.authenticated);
  } else {
    REQUIRE(!d.provenance.authenticated);  // no verifier: nothing can pass
    REQUIRE(rules.dkim != DkimPolicy::require || d.kind == IntakeDecision::Kind::hold);
  }
  REQUIRE(d.provenance.transport == sub.transport);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t flags = data[0];
  const IntakeRules rules = rules_from(flags);
  const Intake intake(rules);
  Submission sub;
  sub.transport = kChannels[flags & 7];
  sub.source = "fuzz";
  sub.bytes = std::string_view(reinterpret_cast<const char*>(data + 1), size - 1);
  sub.received_at = kNow;
  if (sub.transport == Transport::https && (flags & 0x20)) sub.path_domain = "example.com";
  if (sub.transport == Transport::import) {
    sub.authority = Authority::admin;
    sub.admin_method = "import";
  }
  Ingestor ingestor(rules.limits);
  check_decision(sub, rules, intake.check(sub, ingestor));
  return 0;
}
