// SMTP/LMTP reply values and the ONE table from a mailed report's storage outcome
// to the reply after DATA (docs/architecture.md#4-reply). Pure values: no I/O, no clock.
// Reply text is sanitised here, so no client- or report-derived text can inject
// CR/LF (a second reply) into the reply stream.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemon/protocol/reply_table.hpp"

namespace tlsrpt::daemon {

// RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets including the CRLF;
// the code, separator and enhanced status take at most 14 of them.
inline constexpr std::size_t kMaxReplyTextBytes = 400;

struct SmtpReply {
  int code = 250;
  // RFC 3463 enhanced status ("2.0.0"); empty where RFC 2034 §3 leaves it out
  // (the greeting, the EHLO/HELO/LHLO reply, 354).
  std::string enhanced;
  std::vector<std::string> lines;  // at least one; several make a multi-line reply

  // The bytes on the wire: "250-first\r\n250 last\r\n"; the enhanced status is
  // repeated on every line (RFC 2034 §3).
  std::string wire() const;
  // The last line as "250 2.0.0 text", for logs and tests.
  std::string summary() const;
};

// Every line is sanitised: bytes outside printable ASCII become '?', and the text
// is cut at kMaxReplyTextBytes.
SmtpReply make_reply(int code, std::string_view enhanced, std::string_view text);
SmtpReply make_multiline_reply(int code, std::string_view enhanced, const std::vector<std::string>& lines);

// What storing a delivered message came to; the caller reports it through
// SmtpSession::complete_message.
enum class MessageOutcome {
  stored,             // the report is committed
  held,               // committed to the held reports (no valid DKIM signature): success, not counted
  duplicate,          // already stored (same organization-name and report-id): success for the sender
  no_report,          // the mail holds no TLS report
  rejected,           // a report, but not a valid one (the detail says why)
  temporary_failure,  // storage could not commit: the sender should retry
  too_big,            // the report (or the mail) exceeds a size limit
};

struct MessageResult {
  MessageOutcome outcome = MessageOutcome::stored;
  // Appended to the reply text ("report rejected: <detail>"); may come from the
  // report itself, so it is sanitised like all reply text.
  std::string detail;
};

// The reply, from the ONE outcome table (daemon/reply_table.hpp): stored,
// duplicate, held -> 250 2.0.0; no_report, rejected -> 554 5.6.0;
// temporary_failure -> 451 4.3.0; too_big -> 552 5.3.4.
SmtpReply reply_for(const MessageResult& result);
Outcome outcome_of(MessageOutcome o);

}  // namespace tlsrpt::daemon
