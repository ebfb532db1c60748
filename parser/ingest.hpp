// Step 2 of the flow (docs/architecture.md#2-intake): submitted bytes -> a validated, normalised
// report ready to store. Every channel (HTTPS, SMTP/LMTP, Maildir, import) calls
// this one function; it detects the format by content, never by name or label.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parser/error.hpp"
#include "parser/limits.hpp"
#include "parser/mail.hpp"
#include "parser/report.hpp"
#include "parser/report_parser.hpp"

namespace tlsrpt {

// How a submission reached us; stored with the report (`transport`, docs/architecture.md#storage-contract).
enum class Transport { https, smtp, lmtp, maildir, import };
std::string_view to_token(Transport t);

// Where a submission came from and how it was labelled: stored with the report.
struct Provenance {
  Transport transport = Transport::import;
  std::string source;      // file path, peer address, Message-ID ...
  std::string media_type;  // as labelled by the sender ("" if none)
  std::chrono::sys_seconds received_at{};
  // Whether the channel vouches for the sender (mail: a DKIM pass by the reporting
  // domain; import: the admin), and how, for the `report_auth` table. HTTPS is not
  // authenticated (RFC 8460 §7). Unauthenticated reports open no alerts by default.
  bool authenticated = false;
  std::string auth_method;  // "https", "import", "dkim pass d=google.com", ...
  // The DKIM d= that authenticated it, aligned with From ("" otherwise): with the
  // report, the reporter identity (storage/store.hpp reporter_identity).
  std::string signing_domain;
};

enum class Format { gzip, json, unknown };
// By content: gzip magic, or a JSON object/array after optional BOM and whitespace.
Format detect_format(std::string_view bytes);

struct Ingested {
  ParsedReport parsed;
  std::string canonical_json;  // see canonical_json.hpp
  std::string content_sha256;  // of canonical_json: the dedupe identity of the content
  bool was_gzip = false;
  // Set when the submission was a mail (RFC 8460 §5.3): its headers and the report
  // part's label. The stored raw bytes stay the whole mail.
  std::optional<MailProvenance> mail;
  // Set by the receiver's intake (daemon/intake/intake.hpp), not by the parser: the
  // index in the report as sent of each policy in parsed.report.policies (empty: the
  // same), once policies for domains not served are left out; and those whose
  // policy-domain was attributed. The stored policy rows keep the index as sent.
  std::vector<std::uint32_t> policy_index;
  std::vector<std::uint32_t> attributed;
  // Also set by the intake: per policy of parsed.report.policies, the served domain it
  // counts under (parser/domain.hpp served_domain(); "" when unattributed). The
  // per-domain metrics are keyed by it, so subdomains and foreign names add no series.
  std::vector<std::string> served_domains;

  std::uint32_t index_as_sent(std::size_t i) const {
    return policy_index.empty() ? static_cast<std::uint32_t>(i) : policy_index[i];
  }
};

// Owns the reusable buffers and the JSON parser: one per thread.
class Ingestor {
 public:
  explicit Ingestor(const Limits& limits = {});
  // gzip, JSON, or a mail holding a report (then up to max_mail_bytes).
  std::expected<Ingested, Error> ingest(std::string_view bytes);

  // The two halves, for the benchmark's stage timings.
  std::expected<std::string_view, Error> inflate(std::string_view gz);
  std::expected<Ingested, Error> parse_json(std::string_view json, std::size_t capacity = 0);

  const Limits& limits() const { return limits_; }

 private:
  std::expected<Ingested, Error> ingest_report(std::string_view bytes);
  std::expected<Ingested, Error> ingest_mail(std::string_view bytes);

  Limits limits_;
  ReportParser parser_;
  std::vector<char> inflated_;
  std::size_t gzip_members_ = 0;
};

// A mail message (RFC 5322 header lines, or an mbox "From " line) rather than a
// report: the mail channels unwrap it first.
bool looks_like_mail(std::string_view bytes);

}  // namespace tlsrpt
