#include "daemon/intake/mail_intake.hpp"

#include "daemon/protocol/report_checks.hpp"
#include "parser/auth_results.hpp"
#include "parser/domain.hpp"
#include "record/dns_resolver.hpp"

namespace tlsrpt::daemon {
using record::DnsResolver;
using record::DnsStatus;
using record::ResolverOptions;
namespace {

std::string domain_of(std::string_view addr) {
  auto at = addr.rfind('@');
  std::string d(at == std::string_view::npos ? addr : addr.substr(at + 1));
  while (!d.empty() && (d.back() == '>' || d.back() == ' ')) d.pop_back();
  return ascii_lower(d);
}

bool related(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return false;
  if (a == b) return true;
  auto under = [](std::string_view child, std::string_view parent) {
    return child.size() > parent.size() && child.ends_with(parent) && child[child.size() - parent.size() - 1] == '.';
  };
  return under(a, b) || under(b, a);
}

std::string describe(const DkimResult& r) {
  std::string s = "dkim " + std::string(to_token(r.status));
  if (!r.domain.empty()) s += " d=" + r.domain;
  if (!r.reason.empty()) s += " (" + r.reason + ")";
  if (!r.verifier.empty() && r.verifier != "opendkim") s += " by " + r.verifier;
  return s;
}

}  // namespace

bool dkim_aligned(std::string_view d, const Ingested& report) {
  const std::string signer = ascii_lower(d);
  std::vector<std::string> candidates;
  if (report.mail) {
    candidates.push_back(ascii_lower(report.mail->tls_report_submitter));
    candidates.push_back(domain_of(report.mail->from));
  }
  if (report.parsed.report.contact_info) candidates.push_back(domain_of(*report.parsed.report.contact_info));
  for (const auto& c : candidates)
    if (related(signer, c)) return true;
  return false;
}

TxtLookup make_txt_lookup(std::vector<std::string> servers, std::chrono::milliseconds timeout) {
  return [servers = std::move(servers), timeout](const std::string& name)
             -> std::expected<std::vector<std::string>, TxtLookupError> {
    ResolverOptions o;
    o.servers = servers;
    o.timeout = timeout;
    auto resolver = DnsResolver::create(o);
    if (!resolver) return std::unexpected(TxtLookupError{TxtLookupError::Kind::temporary, resolver.error()});
    auto answer = (*resolver)->txt(name);
    switch (answer.status) {
      case DnsStatus::answer: {
        std::vector<std::string> out;
        for (auto& r : answer.records) out.push_back(std::move(r.joined));
        return out;
      }
      case DnsStatus::nxdomain:
      case DnsStatus::nodata:
        return std::unexpected(TxtLookupError{TxtLookupError::Kind::not_found, std::string(describe(answer.status))});
      default:
        return std::unexpected(TxtLookupError{TxtLookupError::Kind::temporary,
                                              std::string(describe(answer.status)) + " " + answer.detail});
    }
  };
}

MailIntake::MailIntake(DkimPolicy policy, std::vector<std::string> trusted_authserv_ids,
                       std::shared_ptr<DkimVerifier> verifier)
    : policy_(policy), trusted_(std::move(trusted_authserv_ids)), verifier_(std::move(verifier)) {}

DkimResult MailIntake::check_dkim(std::string_view message, const Ingested& report) const {
  DkimResult r;
  // A trusted upstream MTA's verdict (it must strip forged Authentication-Results).
  if (report.mail && !trusted_.empty()) {
    if (auto ar = dkim_from_auth_results(report.mail->authentication_results, trusted_, report.mail->dkim_signatures))
      r = *ar;
    else if (verifier_)
      r = verifier_->verify(message);
  } else if (verifier_) {
    r = verifier_->verify(message);
  } else {
    r.status = DkimResult::Status::temperror;
    r.reason = "no DKIM verifier";
  }
  if (r.passed() && !dkim_aligned(r.domain, report)) {
    r.status = DkimResult::Status::fail;
    r.reason = "signed by " + r.domain + ", not by the reporting domain";
  }
  return r;
}

MailDecision MailIntake::evaluate(std::string_view message, Transport transport, std::string source,
                                  Ingestor& ingestor) const {
  MailDecision d;
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  auto ing = ingestor.ingest(message);
  if (!ing) {
    d.kind = MailDecision::Kind::reject;
    d.outcome = outcome_for(ing.error().reason);
    if (!looks_like_mail(message)) d.outcome = Outcome::not_a_report;
    d.detail = ing.error().text();
    return d;
  }
  if (auto e = check_received(ing->parsed.report, now)) {
    d.kind = MailDecision::Kind::reject;
    d.outcome = outcome_for(e->reason);
    d.detail = e->text();
    return d;
  }
  d.provenance.transport = transport;
  d.provenance.source = std::move(source);
  d.provenance.media_type = "message/rfc822";
  d.provenance.received_at = now;

  if (policy_ == DkimPolicy::off) {
    d.kind = MailDecision::Kind::store;
    d.provenance.authenticated = false;
    d.provenance.auth_method = "dkim not checked";
    d.report = std::move(*ing);
    return d;
  }
  const DkimResult r = check_dkim(message, *ing);
  d.provenance.auth_method = describe(r);
  if (r.passed()) {
    d.kind = MailDecision::Kind::store;
    d.provenance.authenticated = true;
  } else if (r.status == DkimResult::Status::temperror && policy_ == DkimPolicy::require) {
    // The key could not be fetched now: the sender keeps the mail and retries.
    d.kind = MailDecision::Kind::retry_later;
    d.outcome = Outcome::storage_unavailable;
    d.detail = "cannot verify the DKIM signature now: " + r.reason;
    return d;
  } else if (policy_ == DkimPolicy::record) {
    d.kind = MailDecision::Kind::store;
    d.provenance.authenticated = false;
  } else {
    d.kind = MailDecision::Kind::hold;
    d.hold_reason = r.status == DkimResult::Status::none ? "not DKIM-signed (RFC 8460 §3)" : describe(r);
  }
  d.report = std::move(*ing);
  return d;
}

}  // namespace tlsrpt::daemon
