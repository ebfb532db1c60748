#include "parser/ingest.hpp"

#include "parser/canonical_json.hpp"
#include "parser/domain.hpp"
#include "parser/gunzip.hpp"
#include "parser/notes.hpp"

namespace tlsrpt {

std::string_view to_token(Transport t) {
  switch (t) {
    case Transport::https: return "https";
    case Transport::smtp: return "smtp";
    case Transport::lmtp: return "lmtp";
    case Transport::maildir: return "maildir";
    case Transport::import: return "import";
  }
  return "import";
}

Format detect_format(std::string_view bytes) {
  if (has_gzip_magic(bytes)) return Format::gzip;
  if (bytes.starts_with("\xEF\xBB\xBF")) bytes.remove_prefix(3);
  auto i = bytes.find_first_not_of(" \t\r\n");
  if (i != std::string_view::npos && (bytes[i] == '{' || bytes[i] == '[')) return Format::json;
  return Format::unknown;
}

Ingestor::Ingestor(const Limits& limits) : limits_(limits), parser_(limits) {}

std::expected<std::string_view, Error> Ingestor::inflate(std::string_view gz) {
  auto info = gunzip(gz, inflated_, limits_);
  if (!info) return std::unexpected(std::move(info.error()));
  gzip_members_ = info->members;
  return std::string_view(inflated_.data(), inflated_.size());
}

std::expected<Ingested, Error> Ingestor::parse_json(std::string_view json, std::size_t capacity) {
  auto parsed = parser_.parse(json, capacity);
  if (!parsed) return std::unexpected(std::move(parsed.error()));
  Ingested out;
  out.parsed = std::move(*parsed);
  out.canonical_json = to_canonical_json(out.parsed.report);
  out.content_sha256 = sha256_hex(out.canonical_json);
  return out;
}

std::expected<Ingested, Error> Ingestor::ingest(std::string_view bytes) {
  if (bytes.empty()) return std::unexpected(Error{RejectReason::empty, "", "empty submission"});
  if (detect_format(bytes) == Format::unknown && looks_like_mail(bytes)) return ingest_mail(bytes);
  if (bytes.size() > limits_.max_submission_bytes)
    return std::unexpected(Error{RejectReason::too_large, "",
                                 "submission is larger than " + std::to_string(limits_.max_submission_bytes) + " bytes"});
  return ingest_report(bytes);
}

std::expected<Ingested, Error> Ingestor::ingest_report(std::string_view bytes) {
  switch (detect_format(bytes)) {
    case Format::gzip: {
      auto json = inflate(bytes);
      if (!json) return std::unexpected(std::move(json.error()));
      if (has_gzip_magic(*json))
        return std::unexpected(Error{RejectReason::nested_gzip, "", "gzip inside gzip is not accepted"});
      if (detect_format(*json) != Format::json)
        return std::unexpected(Error{RejectReason::not_json, "", "the gzip payload is not JSON"});
      auto out = parse_json(*json, inflated_.capacity());
      if (!out) return out;
      out->was_gzip = true;
      if (gzip_members_ > 1)
        out->parsed.notes.push_back(Note{std::string(note::kGzipMultiMember), "",
                                         std::to_string(gzip_members_) + " gzip members joined"});
      return out;
    }
    case Format::json: return parse_json(bytes);
    case Format::unknown: break;
  }
  return std::unexpected(Error{RejectReason::not_json, "", "neither gzip nor JSON"});
}

namespace {

// RFC 8460 §5.3 asks for TLS-Report-Domain and TLS-Report-Submitter, the latter
// matching the contact-info domain; §5.6 makes the body authoritative. So a
// disagreement is noted, never refused.
void check_mail_headers(const Report& r, const MailProvenance& m, std::vector<Note>& notes) {
  std::string missing;
  if (m.tls_report_domain.empty()) missing = "TLS-Report-Domain";
  if (m.tls_report_submitter.empty()) missing += std::string(missing.empty() ? "" : " and ") + "TLS-Report-Submitter";
  if (!missing.empty()) notes.push_back(Note{std::string(note::kMailReportHeaderMissing), "", "no " + missing + " header"});

  if (!m.tls_report_domain.empty()) {
    auto want = normalize_domain(m.tls_report_domain);
    bool found = false;
    std::string seen;
    for (const auto& p : r.policies) {
      if (want && p.policy.domain == *want) found = true;
      if (!p.policy.domain.empty() && seen.find(p.policy.domain) == std::string::npos)
        seen += (seen.empty() ? "" : ", ") + p.policy.domain;
    }
    if (!found)
      notes.push_back(Note{std::string(note::kMailReportDomainMismatch), "",
                           "TLS-Report-Domain " + m.tls_report_domain + ", policy domains " + (seen.empty() ? "none" : seen)});
  }

  if (!m.tls_report_submitter.empty() && r.contact_info) {
    std::string_view contact = *r.contact_info;
    auto at = contact.rfind('@');
    if (at != std::string_view::npos) {
      std::string_view host = contact.substr(at + 1);
      host = host.substr(0, host.find_first_of("> \t"));
      auto a = normalize_domain(host), b = normalize_domain(m.tls_report_submitter);
      if (a && b && *a != *b)
        notes.push_back(Note{std::string(note::kMailSubmitterMismatch), "",
                             "TLS-Report-Submitter " + m.tls_report_submitter + ", contact-info " + std::string(contact)});
    }
  }
}

}  // namespace

std::expected<Ingested, Error> Ingestor::ingest_mail(std::string_view bytes) {
  auto mail = extract_mail_report(bytes, limits_);
  if (!mail) return std::unexpected(std::move(mail.error()));
  if (mail->attachment.empty())
    return std::unexpected(Error{RejectReason::empty, "", "the mail's report part is empty"});
  auto out = ingest_report(mail->attachment);
  if (!out) {
    Error e = std::move(out.error());
    if (e.where.empty()) e.message = "the mail's " + mail->provenance.content_type + " part: " + e.message;
    return std::unexpected(std::move(e));
  }
  auto& notes = out->parsed.notes;
  notes.insert(notes.end(), mail->notes.begin(), mail->notes.end());
  check_mail_headers(out->parsed.report, mail->provenance, notes);
  out->mail = std::move(mail->provenance);
  return out;
}

bool looks_like_mail(std::string_view bytes) {
  if (bytes.starts_with("From ")) return true;  // mbox separator line
  // First line "Field-Name: ..." (RFC 5322 §2.2: printable ASCII except ':').
  auto colon = bytes.find(':');
  auto eol = bytes.find('\n');
  if (colon == std::string_view::npos || colon == 0 || (eol != std::string_view::npos && eol < colon)) return false;
  for (char c : bytes.substr(0, colon))
    if (c <= 32 || c >= 127) return false;
  return true;
}

}  // namespace tlsrpt
