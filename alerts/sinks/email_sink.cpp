#include "alerts/sinks/email_sink.hpp"

#include <array>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>

#include "alerts/render.hpp"
#include "alerts/sinks/curl_easy.hpp"
#include "alerts/text_safety.hpp"

namespace tlsrpt::alerts {
namespace {

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 3 <= in.size(); i += 3) {
    unsigned v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  if (std::size_t rest = in.size() - i) {
    unsigned v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0u);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += rest == 2 ? kAlphabet[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

// RFC 5322 §3.3 date-time in UTC.
std::string rfc5322_date(std::chrono::sys_seconds now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string random_hex(std::size_t bytes) {
  std::random_device rd;
  std::string out;
  char buf[3];
  for (std::size_t i = 0; i < bytes; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>(rd() & 0xFF));
    out += buf;
  }
  return out;
}

std::string domain_of(const std::string& addr) {
  auto at = addr.rfind('@');
  return at == std::string::npos ? std::string("localhost") : addr.substr(at + 1);
}

}  // namespace

bool valid_mailbox(std::string_view addr) {
  auto at = addr.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= addr.size() || addr.size() > 254) return false;
  for (char c : addr) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    if (std::strchr("<>()[],;:\\\"", c)) return false;
  }
  return addr.find('@') == at;  // exactly one @
}

std::string email_subject(const Alert& a) {
  std::string s = "[tlsrptd] ";
  if (!a.policy_domain.empty()) s += flatten_line(cut_utf8(a.policy_domain, 100)) + ": ";
  s += flatten_line(a.summary);
  if (s.size() > kMaxSubjectBytes) s = std::string(cut_utf8(s, kMaxSubjectBytes - 3)) + "\xE2\x80\xA6";
  return s;
}

std::string encode_words(std::string_view text) {
  // 39 bytes -> 52 base64 characters -> a 64-character encoded-word: "Subject: " plus
  // one word stays below RFC 2047 §2's 76-character line.
  constexpr std::size_t kChunk = 39;
  std::string out;
  while (!text.empty()) {
    std::string_view chunk = cut_utf8(text, kChunk);
    if (chunk.empty()) chunk = text.substr(0, std::min(kChunk, text.size()));  // invalid UTF-8: bytes as they are
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(chunk) + "?=";
    text.remove_prefix(chunk.size());
  }
  return out;
}

std::string quoted_printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    std::string enc;
    std::size_t col = 0;
    // A leading "." or "From " is encoded too, so no relay or mbox changes the line.
    auto risky_start = [&](std::size_t i) { return line[i] == '.' || line.substr(i).starts_with("From "); };
    auto escaped = [&](unsigned char c) { return std::string{'=', kHex[c >> 4], kHex[c & 15]}; };
    for (std::size_t i = 0; i < line.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(line[i]);
      // RFC 2045 §6.7 rules 1-3: printable ASCII except "=" as is; space and tab as is
      // except at the end of a line; everything else =XX.
      bool plain = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && i + 1 < line.size());
      std::string piece = plain && !(col == 0 && risky_start(i)) ? std::string(1, static_cast<char>(c)) : escaped(c);
      if (col + piece.size() > 75) {  // soft line break: "=" ends the 76-character line
        enc += "=\r\n";
        col = 0;
        if (plain && risky_start(i)) piece = escaped(c);
      }
      enc += piece;
      col += piece.size();
    }
    out += enc;
    if (end == std::string_view::npos) break;
    out += "\r\n";
    start = end + 1;
  }
  return out;
}

std::string compose_email(const Alert& a, const std::string& from, const std::vector<std::string>& to,
                          std::chrono::sys_seconds now, std::string_view message_id) {
  // The header set is fixed; only Subject carries report text, and only encoded.
  std::string m;
  m += "Date: " + rfc5322_date(now) + "\r\n";
  m += "From: tlsrptd <" + from + ">\r\n";
  m += "To: ";
  for (std::size_t i = 0; i < to.size(); ++i) m += (i ? ",\r\n " : "") + std::string("<") + to[i] + ">";
  m += "\r\n";
  m += "Subject: " + encode_words(email_subject(a)) + "\r\n";
  m += "Message-ID: <" + std::string(message_id) + ">\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "Content-Transfer-Encoding: quoted-printable\r\n";
  m += "Auto-Submitted: auto-generated\r\n";  // RFC 3834: no auto-replies to this
  m += "\r\n";
  m += quoted_printable(render_text(a));
  if (!m.ends_with("\r\n")) m += "\r\n";
  return m;
}

EmailSink::EmailSink(EmailOptions o) : options_(std::move(o)) { curl_global(); }

std::string EmailSink::describe() const {
  std::string to;
  for (const auto& t : options_.to) to += (to.empty() ? "" : ",") + t;
  return "email " + to + " via " + options_.smarthost;
}

namespace {

struct Upload {
  std::string_view data;
  std::size_t pos = 0;
};

std::size_t read_upload(char* buf, std::size_t size, std::size_t n, void* userp) {
  auto* u = static_cast<Upload*>(userp);
  std::size_t len = std::min(size * n, u->data.size() - u->pos);
  std::memcpy(buf, u->data.data() + u->pos, len);
  u->pos += len;
  return len;
}

}  // namespace

std::expected<void, DeliveryError> EmailSink::deliver(const Alert& a, std::stop_token stop) {
  CurlEasy h;
  if (!h) return std::unexpected(DeliveryError{"cannot create a curl handle", true});
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  const std::string message = compose_email(a, options_.from, options_.to, now,
                                            random_hex(16) + "@" + domain_of(options_.from));
  Upload upload{message};
  CurlSlist rcpt;
  for (const auto& t : options_.to)
    if (!rcpt.append("<" + t + ">")) return std::unexpected(DeliveryError{"out of memory", true});
  char errbuf[CURL_ERROR_SIZE];
  CURL* c = h.get();
  curl_common(c, options_.timeout, options_.ca_file, &stop, errbuf);
  curl_easy_setopt(c, CURLOPT_URL, options_.smarthost.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_USE_SSL, options_.require_tls ? static_cast<long>(CURLUSESSL_ALL)
                                                            : static_cast<long>(CURLUSESSL_TRY));
  const std::string mail_from = "<" + options_.from + ">";
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &read_upload);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  if (!options_.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, options_.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, options_.password.c_str());
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) return {};
  long smtp = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &smtp);
  DeliveryError err = curl_error(rc, errbuf);
  if (smtp >= 500 && smtp < 600) err.retryable = false;  // permanent SMTP reply
  if (smtp) err.message += " (smtp reply " + std::to_string(smtp) + ")";
  return std::unexpected(std::move(err));
}

}  // namespace tlsrpt::alerts
