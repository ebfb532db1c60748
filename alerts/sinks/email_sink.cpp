#include "alerts/sinks/email_sink.hpp"

#include <gmime/gmime.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "alerts/render.hpp"
#include "alerts/sinks/curl_easy.hpp"
#include "parser/gmime_ptr.hpp"
#include "parser/mail.hpp"
#include "parser/text.hpp"

namespace tlsrpt::alerts {
namespace {

struct DateTimeUnref {
  void operator()(GDateTime* d) const {
    if (d) g_date_time_unref(d);
  }
};

struct FormatOptionsFree {
  void operator()(GMimeFormatOptions* o) const { g_mime_format_options_free(o); }
};

std::string domain_of(const std::string& addr) {
  auto at = addr.rfind('@');
  return at == std::string::npos ? std::string("localhost") : addr.substr(at + 1);
}

// The body, already quoted-printable: GMime's encoder, then its From filter, which
// writes a line starting "From " as "=46rom " so no mbox delivery turns it into
// ">From ". GMime's QP encoder alone leaves such lines as they are.
GPtr<GMimeDataWrapper> quoted_printable_body(std::string_view text) {
  GPtr<GMimeStream> encoded(g_mime_stream_mem_new());
  {
    GPtr<GMimeStream> filtered(g_mime_stream_filter_new(encoded.get()));
    GPtr<GMimeFilter> qp(g_mime_filter_basic_new(GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE, TRUE));
    GPtr<GMimeFilter> from(g_mime_filter_from_new(GMIME_FILTER_FROM_MODE_ARMOR));
    g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered.get()), qp.get());
    g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered.get()), from.get());
    g_mime_stream_write(filtered.get(), text.data(), text.size());
    g_mime_stream_flush(filtered.get());  // completes the filters: the last line is encoded too
  }
  g_mime_stream_reset(encoded.get());
  return GPtr<GMimeDataWrapper>(g_mime_data_wrapper_new_with_stream(encoded.get(), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE));
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
    // A word of 3n bytes has no "=" padding. GMime's decoder (so GMime-based readers)
    // joins adjacent words before decoding and drops what follows a padded one, so
    // a word before the last is cut at a multiple of 3 where a character ends there.
    if (chunk.size() < text.size() && chunk.size() % 3 != 0)
      for (std::size_t n = chunk.size() - chunk.size() % 3; n >= 3; n -= 3)
        if (cut_utf8(text, n).size() == n) {
          chunk = text.substr(0, n);
          break;
        }
    if (!out.empty()) out += "\r\n ";
    GCharPtr b64(g_base64_encode(reinterpret_cast<const guchar*>(chunk.data()), chunk.size()));
    out += "=?UTF-8?B?" + std::string(b64.get()) + "?=";
    text.remove_prefix(chunk.size());
  }
  return out;
}

std::string compose_email(const Alert& a, const std::string& from, const std::vector<std::string>& to,
                          std::chrono::sys_seconds now, std::string_view message_id) {
  ensure_gmime_initialized();
  // FALSE: no blank placeholder headers; the header set is exactly what is added here.
  GPtr<GMimeMessage> m(g_mime_message_new(FALSE));
  GMimeObject* obj = GMIME_OBJECT(m.get());
  std::unique_ptr<GDateTime, DateTimeUnref> date(g_date_time_new_from_unix_utc(now.time_since_epoch().count()));
  g_mime_message_set_date(m.get(), date.get());
  g_mime_message_add_mailbox(m.get(), GMIME_ADDRESS_TYPE_FROM, "tlsrptd", from.c_str());
  for (const auto& t : to) g_mime_message_add_mailbox(m.get(), GMIME_ADDRESS_TYPE_TO, "", t.c_str());
  // Subject is the one header carrying report text. GMime's own encoder
  // (g_mime_message_set_subject) passes ASCII text that looks like an encoded word
  // through as it is, so a reporter's "=?utf-8?q?=0a?=" would reach the reader as a
  // line break; every byte goes into B-encoded words instead, set as the raw value.
  g_mime_object_set_header(obj, "Subject", "", nullptr);
  GMimeHeader* subject = g_mime_header_list_get_header(g_mime_object_get_header_list(obj), "Subject");
  g_mime_header_set_raw_value(subject, (" " + encode_words(email_subject(a)) + "\r\n").c_str());
  // Set as a header, not with g_mime_message_set_message_id, which would spell the
  // name "Message-Id": RFC 5322 §3.6.4 writes Message-ID, and some filters match it so.
  g_mime_object_set_header(obj, "Message-ID", ("<" + std::string(message_id) + ">").c_str(), nullptr);
  g_mime_object_set_header(obj, "Auto-Submitted", "auto-generated", nullptr);  // RFC 3834: no auto-replies to this

  // Report fields reach only the body. Its content is set as bytes, not with
  // g_mime_text_part_set_text, which would recode Latin-1-only text to ISO-8859-1.
  GPtr<GMimeTextPart> part(g_mime_text_part_new_with_subtype("plain"));
  g_mime_text_part_set_charset(part.get(), "utf-8");
  g_mime_part_set_content(GMIME_PART(part.get()), quoted_printable_body(render_text(a)).get());
  g_mime_part_set_content_encoding(GMIME_PART(part.get()), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
  g_mime_message_set_mime_part(m.get(), GMIME_OBJECT(part.get()));

  std::unique_ptr<GMimeFormatOptions, FormatOptionsFree> options(g_mime_format_options_new());
  g_mime_format_options_set_newline_format(options.get(), GMIME_NEWLINE_FORMAT_DOS);  // SMTP's CRLF
  GCharPtr text(g_mime_object_to_string(obj, options.get()));
  std::string out = text ? std::string(text.get()) : std::string();
  if (!out.ends_with("\r\n")) out += "\r\n";
  return out;
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
  ensure_gmime_initialized();
  GCharPtr id(g_mime_utils_generate_message_id(domain_of(options_.from).c_str()));
  const std::string message = compose_email(a, options_.from, options_.to, now, id.get());
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
