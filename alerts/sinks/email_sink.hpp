// type = "email": a plain-text mail per alert to a list of admins, through an SMTP
// smarthost (libcurl; smtp:// with STARTTLS, or smtps://; optional AUTH). The message
// is built and serialised by GMime. Reports are attacker controlled (RFC 8460 §7), so
// no report text ever reaches a header raw: a fixed header set, the Subject RFC
// 2047-encoded after control characters are removed, report fields only in the
// quoted-printable body (docs/guarantees.md#output-side).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "alerts/sink.hpp"

namespace tlsrpt::alerts {

struct EmailOptions {
  std::string smarthost;          // smtp://host[:port] or smtps://host[:port]
  bool require_tls = true;        // STARTTLS must succeed (CURLUSESSL_ALL); false: CURLUSESSL_TRY
  std::string from;               // envelope and header sender, a bare addr-spec
  std::vector<std::string> to;    // bare addr-specs
  std::string username;           // AUTH when not empty
  std::string password;
  std::string ca_file;            // extra trust anchors for the smarthost ("" = system store)
  std::chrono::milliseconds timeout{30000};
  int attempts = 4;
};

class EmailSink final : public Sink {
 public:
  explicit EmailSink(EmailOptions o);
  std::string describe() const override;
  std::expected<void, DeliveryError> deliver(const Alert& a, std::stop_token stop) override;
  int attempts() const override { return options_.attempts; }

 private:
  EmailOptions options_;
};

// A bare addr-spec a config may name (local@domain, printable ASCII, no spaces,
// brackets, commas or quotes): nothing that could start a new header or recipient.
bool valid_mailbox(std::string_view addr);

// Longest Subject text before encoding; longer ones are cut and end in "…".
inline constexpr std::size_t kMaxSubjectBytes = 200;

// "[tlsrptd] example.com: MX change — mx3.example.net is not in your MTA-STS policy",
// one line, no control characters, at most kMaxSubjectBytes.
std::string email_subject(const Alert& a);
// RFC 2047 §4.1 B-encoded words of UTF-8 `text`, each at most 75 characters, folded
// with CRLF SP, never splitting a character; only the last word is padded unless the
// characters leave no cut at a multiple of 3 bytes. Every byte is encoded, so text
// that looks like an encoded word stays literal text for the reader.
std::string encode_words(std::string_view text);
// The whole message with CRLF line ends, 7-bit clean, header lines at most 78
// characters; the body quoted-printable with no line starting "From ".
std::string compose_email(const Alert& a, const std::string& from, const std::vector<std::string>& to,
                          std::chrono::sys_seconds now, std::string_view message_id);

}  // namespace tlsrpt::alerts
