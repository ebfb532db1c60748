// Data-quality note codes: the stable tokens stored with a report when the parser
// tolerated a deviation from RFC 8460. Each real-world quirk is named after the
// sender that shows it, with a corpus file of the same name under tests/corpus/.
#pragma once

#include <string_view>

namespace tlsrpt::note {

// Dates (RFC 3339 §5.6, RFC 8460 §4.1).
inline constexpr std::string_view kDatetimeWithoutZone = "datetime-without-zone";   // quirk(microsoft)
inline constexpr std::string_view kDatetimeNotUtc = "datetime-not-utc";
inline constexpr std::string_view kDatetimeFraction = "datetime-fraction-dropped";
inline constexpr std::string_view kDateRangeNotOneDay = "date-range-not-one-day";   // quirk(mail-auth: 7 days)

// Top-level members.
inline constexpr std::string_view kContactInfoNull = "contact-info-null";           // quirk(stalwart)
inline constexpr std::string_view kContactInfoMissing = "contact-info-missing";
inline constexpr std::string_view kContactInfoForm = "contact-info-not-addr-spec";
inline constexpr std::string_view kNoPolicies = "no-policies";
inline constexpr std::string_view kUtf8Bom = "utf8-bom";

// Policies.
inline constexpr std::string_view kPolicyDomainMissing = "policy-domain-missing";   // quirk(tlsrpt-reporter)
inline constexpr std::string_view kPolicyDomainNormalised = "policy-domain-normalised";
inline constexpr std::string_view kPolicyStringTrailingCr = "policy-string-trailing-cr";  // quirk(google)
inline constexpr std::string_view kPolicyStringNotArray = "policy-string-not-array";
inline constexpr std::string_view kTlsaPackedInString = "tlsa-set-packed-in-string";      // quirk(microsoft)
inline constexpr std::string_view kTlsaSemicolonList = "tlsa-semicolon-list";            // RFC 8460 §4 overview form
inline constexpr std::string_view kMxHostString = "mx-host-string";                 // quirk(rfc8460): erratum 6241
inline constexpr std::string_view kMxHostPrefix = "mx-host-mx-prefix";              // quirk(stalwart)
inline constexpr std::string_view kUnknownPolicyType = "unknown-policy-type";
inline constexpr std::string_view kTokenCase = "token-case";

// Summary and failure details.
inline constexpr std::string_view kSummaryCountMissing = "summary-count-missing";   // quirk(mail-auth)
inline constexpr std::string_view kFailureDetailsAbsent = "failure-details-absent";
inline constexpr std::string_view kFailureSumMismatch = "failure-sum-mismatch";     // quirk(mailru)
inline constexpr std::string_view kFailureFieldMissing = "failure-field-missing";
inline constexpr std::string_view kEmptyField = "empty-field";                      // quirk(parsedmarc)
inline constexpr std::string_view kMisspelledMember = "misspelled-member";          // quirk(socketlabs)
inline constexpr std::string_view kUnknownResultType = "unknown-result-type";
inline constexpr std::string_view kInvalidIp = "invalid-ip-address";
inline constexpr std::string_view kIpNormalised = "ip-address-normalised";

// Anywhere.
inline constexpr std::string_view kUnknownMember = "unknown-member";
inline constexpr std::string_view kNullMember = "null-member";
inline constexpr std::string_view kTextTruncated = "text-truncated";
inline constexpr std::string_view kGzipMultiMember = "gzip-multi-member";
inline constexpr std::string_view kNotesTruncated = "notes-truncated";

// The stored footprint (parser/footprint.hpp): what the rows keep of a big report.
inline constexpr std::string_view kStoredTextCut = "stored-text-cut";              // over max_stored_text_bytes
inline constexpr std::string_view kStoredTextBudget = "stored-text-budget";        // over max_stored_text_ratio
inline constexpr std::string_view kFailureDetailsMerged = "failure-details-merged";  // identical rows, counts summed

// Mail (RFC 8460 §5.3): what the mail around a report got wrong.
inline constexpr std::string_view kMailExtraReportPart = "mail-extra-report-part";      // only the first part is used
inline constexpr std::string_view kMailPartLabelMismatch = "mail-part-label-mismatch";  // quirk(parsedmarc): +gzip holding JSON
inline constexpr std::string_view kMailReportHeaderMissing = "mail-tls-report-header-missing";  // §5.3 MUST
inline constexpr std::string_view kMailReportDomainMismatch = "mail-report-domain-mismatch";    // §5.6: body wins
inline constexpr std::string_view kMailSubmitterMismatch = "mail-submitter-mismatch";  // quirk(mailru): corp.mail.ru vs mail.ru

// Intake (daemon/intake/intake.hpp): what the receiver decided about a policy.
inline constexpr std::string_view kPolicyDomainAttributed = "policy-domain-attributed";  // from TLS-Report-Domain / the POST path
inline constexpr std::string_view kPolicyNotServed = "policy-not-served";  // kept in the raw report, not counted

}  // namespace tlsrpt::note
