// Reply formatting and the storage-outcome table. Never emits a byte outside
// printable ASCII except the CRLF it adds itself.
#include "daemon/protocol/smtp_reply.hpp"

namespace tlsrpt::daemon {
namespace {

std::string sanitise(std::string_view text) {
  std::string out;
  out.reserve(std::min(text.size(), kMaxReplyTextBytes));
  for (char c : text) {
    if (out.size() == kMaxReplyTextBytes) break;
    auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  return out;
}

std::string with_detail(std::string_view text, std::string_view detail) {
  if (detail.empty()) return std::string(text);
  return std::string(text) + ": " + std::string(detail);
}

}  // namespace

std::string SmtpReply::wire() const {
  std::string out;
  const std::string code_text = std::to_string(code);
  const std::size_t n = lines.empty() ? 1 : lines.size();
  for (std::size_t i = 0; i < n; ++i) {
    out += code_text;
    out += i + 1 < n ? '-' : ' ';
    if (!enhanced.empty()) {
      out += enhanced;
      out += ' ';
    }
    if (i < lines.size()) out += lines[i];
    out += "\r\n";
  }
  return out;
}

std::string SmtpReply::summary() const {
  std::string out = std::to_string(code);
  if (!enhanced.empty()) out += " " + enhanced;
  if (!lines.empty()) out += " " + lines.back();
  return out;
}

SmtpReply make_reply(int code, std::string_view enhanced, std::string_view text) {
  return SmtpReply{code, sanitise(enhanced), {sanitise(text)}};
}

SmtpReply make_multiline_reply(int code, std::string_view enhanced, const std::vector<std::string>& lines) {
  SmtpReply r{code, sanitise(enhanced), {}};
  r.lines.reserve(lines.size());
  for (const auto& l : lines) r.lines.push_back(sanitise(l));
  if (r.lines.empty()) r.lines.emplace_back();
  return r;
}

SmtpReply reply_for(const MessageResult& result) {
  // Postfix answers a queue-file write error with 451 4.3.0: the sender keeps the
  // mail and retries (RFC 8460 §5.5: senders retry for up to 24 hours).
  const Reply& r = daemon::reply_for(result.outcome);
  return make_reply(r.smtp_code, r.enhanced, with_detail(r.text, result.detail));
}

}  // namespace tlsrpt::daemon
