// A mailed TLS report (RFC 8460 §5.3) -> the report part's decoded bytes plus the
// mail headers worth keeping. MIME is GMime's job (real report mails are messy);
// this file only picks the part and bounds the work. Pure: no I/O, no DKIM
// verification (that needs DNS: daemon/dkim_verifier), never uses a filename as a path.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "parser/error.hpp"
#include "parser/limits.hpp"
#include "parser/report.hpp"

namespace tlsrpt {

// Where a mailed report came from, as the mail says (RFC 8460 §5.3). Header values
// are unfolded, RFC 2047-decoded, stripped of control characters and capped; ""
// when absent. None of them is authoritative (§5.6: the report body is).
struct MailProvenance {
  std::string tls_report_domain;     // TLS-Report-Domain
  std::string tls_report_submitter;  // TLS-Report-Submitter
  std::string subject;
  std::string message_id;            // as written, with its angle brackets
  std::string from;
  std::string from_domain;           // of From's one mailbox, A-labels, lower case ("" if not exactly one)
  std::string date;                  // as written: senders break RFC 5322 date syntax
  std::string filename;              // of the report part; a label only, never a path
  std::string content_type;          // of the report part as labelled, "type/subtype"
  bool dkim_signature_present = false;
  // Raw (unfolded) values of the top-level Authentication-Results and
  // DKIM-Signature headers, top to bottom, for parser/auth_results.
  std::vector<std::string> authentication_results;
  std::vector<std::string> dkim_signatures;
};

struct MailReport {
  std::string attachment;     // the decoded report part: gzip or JSON bytes
  MailProvenance provenance;
  std::vector<Note> notes;    // tolerated mail deviations (notes.hpp, kMail*)
};

// Finds the TLS report in `message` (RFC 5322 bytes, CRLF or LF, an optional mbox
// "From " first line). Which part is the report:
//  - a part labelled application/tlsrpt (+gzip, +json or bare) is the report, whatever
//    its bytes turn out to be (a broken one is refused later, with the real reason);
//  - otherwise a part labelled application/gzip, application/x-gzip, application/json
//    or application/octet-stream, or any leaf part named *.json / *.json.gz, when its
//    decoded bytes are (gzipped) JSON that names a report member near its start;
//  - the first such part in MIME order wins; further report parts are ignored and
//    noted (kMailExtraReportPart): the raw mail is kept, so nothing is lost.
// Never entered: message/* parts (a bounce or a forwarded mail quotes someone
// else's mail) and multipart/report subtrees whose report-type is not tlsrpt.
// A mail without a report is refused with RejectReason::not_a_report.
std::expected<MailReport, Error> extract_mail_report(std::string_view message, const Limits& limits);

// GMime wants g_mime_init() once per process before any use; every entry point of
// this file calls this (std::call_once), so callers never have to.
void ensure_gmime_initialized();

}  // namespace tlsrpt
