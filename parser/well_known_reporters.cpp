// The well-known reporters table: the single truth (docs/well-known-reporters.md shows
// it and WellKnownReporters.DocTableMatchesTheCode keeps the two equal). An entry is
// added only on evidence: a real report mail or report that shows the organization-name
// and the DKIM d= of the mail that carried it. `source` names that evidence.
#include "parser/well_known_reporters.hpp"

#include <array>

#include "parser/org_domain.hpp"
#include "parser/text.hpp"

namespace tlsrpt {
namespace {

using Names = std::string_view;

// Google. Every Google report seen (16 in the interop corpus, 2020-2026) says
// "Google Inc." (not the company's current name, Google LLC); the mails come from
// noreply-smtp-tls-reporting@google.com with TLS-Report-Submitter google.com and one
// DKIM signature, d=google.com (selectors 20161025, 20210112, 20230601, 20251104).
constexpr std::array<Names, 1> kGoogleNames{"Google Inc."};
constexpr std::array<Names, 1> kGoogleDomains{"google.com"};

// Microsoft. "Microsoft Corporation" in every Microsoft report seen (2023-2026); the
// mails come from tlsrpt-noreply@microsoft.com, TLS-Report-Submitter microsoft.com,
// DKIM d=microsoft.com (selector2).
constexpr std::array<Names, 1> kMicrosoftNames{"Microsoft Corporation"};
constexpr std::array<Names, 1> kMicrosoftDomains{"microsoft.com"};

// Mail.ru. "Mail.ru" in both reports seen (2023, 2024); the mail comes from
// noreply-smtp-tls-reporting@corp.mail.ru, TLS-Report-Submitter mail.ru, DKIM
// d=corp.mail.ru (mail4). signs_for() compares organizational domains, so d=mail.ru
// and other *.mail.ru signers are accepted too.
constexpr std::array<Names, 1> kMailRuNames{"Mail.ru"};
constexpr std::array<Names, 1> kMailRuDomains{"corp.mail.ru"};

constexpr std::array<WellKnownReporter, 3> kReporters{{
    {"Google", kGoogleNames, kGoogleDomains,
     "report mails from noreply-smtp-tls-reporting@google.com signed d=google.com, "
     "organization-name \"Google Inc.\": mjl-/mox testdata/tlsreports/example.eml, "
     "kravietz/tlsrpt-rs tlsrpt/fixtures/google1.eml, marcbradshaw/mail-tls-rpt t/data/email.eml, "
     "deltachat/deltachat-core-rust test-data/message/tlsrpt.eml (interop corpus mox-1.eml, "
     "tlsrpt-rs-1.eml, mail-tls-rpt-1.eml, deltachat-1.eml); tests/corpus/google-multipart-gzip-base64.eml"},
    {"Microsoft", kMicrosoftNames, kMicrosoftDomains,
     "report mails from tlsrpt-noreply@microsoft.com signed d=microsoft.com, organization-name "
     "\"Microsoft Corporation\": mjl-/mox testdata/tlsreports/microsoft.eml, kravietz/tlsrpt-rs "
     "tlsrpt/fixtures/microsoft1.eml, isseis/tlsrpt-digest testdata/tlsrpt_success_microsoft.eml "
     "(interop corpus mox-2.eml, tlsrpt-rs-5.eml, tlsrpt-digest-3.eml); "
     "tests/corpus/microsoft-html-first-part.eml"},
    {"Mail.ru", kMailRuNames, kMailRuDomains,
     "report mail from noreply-smtp-tls-reporting@corp.mail.ru signed d=corp.mail.ru, "
     "organization-name \"Mail.ru\": kravietz/tlsrpt-rs tlsrpt/fixtures/mail.ru.eml (interop corpus "
     "tlsrpt-rs-3.eml); domainaware/parsedmarc samples/smtp_tls/mail.ru.json (interop corpus "
     "parsedmarc-2.json); tests/corpus/mailru-no-closing-boundary.eml"},
}};

}  // namespace

const WellKnownReporter* well_known_reporter(std::string_view organization_name) {
  const std::string_view name = trim(organization_name);
  if (name.empty()) return nullptr;
  for (const auto& reporter : kReporters)
    for (const auto known : reporter.organization_names)
      if (iequals(name, known)) return &reporter;
  return nullptr;
}

bool signs_for(const WellKnownReporter& reporter, std::string_view signing_domain) {
  // Relaxed alignment (RFC 7489 §3.1.1) with each listed domain: the same name, or the
  // same organizational domain. A bare "is a subdomain of" test would be wrong where
  // the PSL puts a public suffix between the two (anyone can register below it).
  for (const auto domain : reporter.signing_domains)
    if (dkim_aligned_domain(signing_domain, domain)) return true;
  return false;
}

std::span<const WellKnownReporter> well_known_reporters() { return kReporters; }

}  // namespace tlsrpt
