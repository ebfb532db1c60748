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

// What a delivered message came to (the intake's or the store's outcome); the
// caller reports it through SmtpSession::complete_message.
struct MessageResult {
  Outcome outcome = Outcome::stored;
  // Appended to the reply text ("malformed report: <detail>"); may come from the
  // report itself, so it is sanitised like all reply text.
  std::string detail;
};

// The reply after DATA, from the ONE outcome table (daemon/protocol/reply_table.hpp).
SmtpReply reply_for(const MessageResult& result);

}  // namespace tlsrpt::daemon
