// The alert mail as composed (the SMTP delivery itself is tested end to end against
// a real SMTP server in tests/e2e/test_alerts.py): a fixed header set, an encoded
// Subject, report text only in the body, no header injection
// (docs/guarantees.md#output-side).
// Each message is read back with GMime's parser, so what is checked is what a mail
// reader gets, not only the bytes this file expects.
#include "alerts/sinks/email_sink.hpp"

#include <gmime/gmime.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <regex>

#include "alerts/render.hpp"
#include "parser/datetime.hpp"
#include "parser/gmime_ptr.hpp"
#include "parser/mail.hpp"
#include "parser/text.hpp"

namespace tlsrpt::alerts {
namespace {

std::string b64decode(std::string_view in) {
  gsize n = 0;
  std::string s(in);
  guchar* p = g_base64_decode(s.c_str(), &n);
  std::string out(reinterpret_cast<const char*>(p), n);
  g_free(p);
  return out;
}

// The message as a mail reader sees it, through GMime's parser.
struct Read {
  std::vector<std::pair<std::string, std::string>> headers;  // name and raw value as written, unfolded
  std::string subject;                                       // RFC 2047-decoded
  std::string from;                                          // "name <addr>" per mailbox, ", "-joined
  std::string to;
  std::string message_id;
  std::int64_t date = 0;  // Unix time
  std::string content_type;
  std::string charset;
  std::string encoding;
  std::string body;  // transfer-decoded, CRLF as LF
  std::string wire_body;
};

std::string mailboxes(InternetAddressList* list) {
  std::string out;
  for (int i = 0; list && i < internet_address_list_length(list); ++i) {
    InternetAddress* ia = internet_address_list_get_address(list, i);
    EXPECT_TRUE(INTERNET_ADDRESS_IS_MAILBOX(ia));
    if (!INTERNET_ADDRESS_IS_MAILBOX(ia)) continue;
    const char* name = internet_address_get_name(ia);
    if (!out.empty()) out += ", ";
    if (name && *name) out += std::string(name) + " ";
    out += "<" + std::string(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia))) + ">";
  }
  return out;
}

Read read(const std::string& msg) {
  ensure_gmime_initialized();
  Read r;
  GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(msg.data(), msg.size()));
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  GPtr<GMimeMessage> m(g_mime_parser_construct_message(parser.get(), nullptr));
  EXPECT_TRUE(m) << msg;
  if (!m) return r;
  GMimeObject* obj = GMIME_OBJECT(m.get());
  auto add_headers = [&](GMimeObject* o) {
    GMimeHeaderList* list = g_mime_object_get_header_list(o);
    for (int i = 0; i < g_mime_header_list_get_count(list); ++i) {
      GMimeHeader* h = g_mime_header_list_get_header_at(list, i);
      std::string raw = g_mime_header_get_raw_value(h);
      std::string unfolded;
      for (char c : raw)
        if (c != '\r' && c != '\n') unfolded += c;
      r.headers.emplace_back(g_mime_header_get_name(h), unfolded);
    }
  };
  add_headers(obj);
  if (const char* s = g_mime_message_get_subject(m.get())) r.subject = s;
  r.from = mailboxes(g_mime_message_get_from(m.get()));
  r.to = mailboxes(g_mime_message_get_to(m.get()));
  if (const char* id = g_mime_message_get_message_id(m.get())) r.message_id = id;
  if (GDateTime* d = g_mime_message_get_date(m.get())) r.date = g_date_time_to_unix(d);
  GMimeObject* body = g_mime_message_get_mime_part(m.get());
  EXPECT_TRUE(body && GMIME_IS_TEXT_PART(body));
  if (!body || !GMIME_IS_TEXT_PART(body)) return r;
  // The part's own headers (Content-Type, Content-Transfer-Encoding) follow the
  // message's on the wire.
  GMimeHeaderList* own = g_mime_object_get_header_list(body);
  for (int i = 0; i < g_mime_header_list_get_count(own); ++i) {
    GMimeHeader* h = g_mime_header_list_get_header_at(own, i);
    std::string name = g_mime_header_get_name(h);
    bool seen = false;
    for (const auto& [k, v] : r.headers) seen |= g_ascii_strcasecmp(k.c_str(), name.c_str()) == 0;
    if (!seen) {
      std::string raw = g_mime_header_get_raw_value(h), unfolded;
      for (char c : raw)
        if (c != '\r' && c != '\n') unfolded += c;
      r.headers.emplace_back(name, unfolded);
    }
  }
  GMimeContentType* ct = g_mime_object_get_content_type(body);
  r.content_type = std::string(g_mime_content_type_get_media_type(ct)) + "/" + g_mime_content_type_get_media_subtype(ct);
  if (const char* cs = g_mime_content_type_get_parameter(ct, "charset")) r.charset = cs;
  r.encoding = g_mime_content_encoding_to_string(g_mime_part_get_content_encoding(GMIME_PART(body)));
  GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(body));
  GPtr<GMimeStream> out(g_mime_stream_mem_new());
  g_mime_data_wrapper_write_to_stream(content, out.get());  // decodes the transfer encoding
  GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.get()));
  std::string decoded(reinterpret_cast<const char*>(bytes->data), bytes->len);
  for (std::size_t i = 0; i < decoded.size(); ++i)
    if (!(decoded[i] == '\r' && i + 1 < decoded.size() && decoded[i + 1] == '\n')) r.body += decoded[i];
  auto end = msg.find("\r\n\r\n");
  if (end != std::string::npos) r.wire_body = msg.substr(end + 4);
  return r;
}

// Every line ends in CRLF, is at most 78 characters and printable ASCII (or TAB).
void expect_wire_clean(const std::string& msg) {
  std::size_t pos = 0;
  while (pos < msg.size()) {
    auto eol = msg.find("\r\n", pos);
    ASSERT_NE(eol, std::string::npos) << "no CRLF after " << pos;
    EXPECT_LE(eol - pos, 78u) << msg.substr(pos, eol - pos);
    for (std::size_t i = pos; i < eol; ++i) {
      unsigned char c = static_cast<unsigned char>(msg[i]);
      EXPECT_TRUE((c >= 0x20 && c < 0x7f) || c == '\t') << "byte " << int(c) << " at " << i;
    }
    pos = eol + 2;
  }
}

// The Subject on the wire is nothing but B-encoded words: no report text, not even
// ASCII, is written raw.
void expect_only_encoded_words(const std::string& raw_subject) {
  static const std::regex kWords(R"(( +=\?UTF-8\?B\?[A-Za-z0-9+/]*=*\?=)+)");
  EXPECT_TRUE(std::regex_match(raw_subject, kWords)) << raw_subject;
}

Alert hostile_alert() {
  Alert a;
  a.kind = std::string(kMxChange);
  a.severity = Severity::critical;
  a.policy_domain = "example.com";
  a.policy_type = "sts";
  a.day = "2024-05-04";
  // Detectors escape names in prose; the sink must be safe even if one did not.
  a.summary = "MX change \xE2\x80\x94 mx3.example.net\r\nBcc: evil@x is not in your MTA-STS policy";
  a.explanation = "Line one.\r\nBcc: evil@x\r\n.\r\nFrom nobody";
  a.evidence.reporters = {"=?UTF-8?Q?=0A?=Bcc: evil@x", std::string(5000, 'A'), "Evil\r\nBcc: evil@x",
                          std::string("nul\0byte", 8)};
  a.evidence.sources = "authenticated";
  a.evidence.mx_hosts = {{"mx3.example.net\r\nBcc: evil@x", 40}};
  a.evidence.old_policy = {"version: STSv1", "mx: mx1.example.com"};
  return a;
}

const std::vector<std::string> kTo = {"admin@example.com", "noc@example.org"};

std::string compose(const Alert& a, std::string_view id = "abc123@example.com") {
  return compose_email(a, "tlsrptd@example.com", kTo, parse_rfc3339("2024-05-05T06:07:08Z")->time, id);
}

TEST(EmailSink, FixedHeaderSetAndEncodedSubject) {
  std::string msg = compose(hostile_alert());
  Read r = read(msg);
  std::vector<std::string> names;
  for (const auto& [k, v] : r.headers) names.push_back(k);
  // GMime's order: the message's headers as added, MIME-Version, then the part's.
  EXPECT_EQ(names, (std::vector<std::string>{"Date", "From", "To", "Subject", "Message-ID", "Auto-Submitted",
                                              "MIME-Version", "Content-Type", "Content-Transfer-Encoding"}));
  std::map<std::string, std::string> h(r.headers.begin(), r.headers.end());
  EXPECT_EQ(h["Date"], " Sun, 05 May 2024 06:07:08 +0000");
  EXPECT_EQ(r.date, parse_rfc3339("2024-05-05T06:07:08Z")->time.time_since_epoch().count());
  EXPECT_EQ(h["From"], " tlsrptd <tlsrptd@example.com>");
  EXPECT_EQ(r.from, "tlsrptd <tlsrptd@example.com>");
  EXPECT_EQ(h["To"], " admin@example.com, noc@example.org");
  EXPECT_EQ(r.to, "<admin@example.com>, <noc@example.org>");
  EXPECT_EQ(h["Message-ID"], " <abc123@example.com>");
  EXPECT_EQ(r.message_id, "abc123@example.com");
  EXPECT_EQ(h["MIME-Version"], " 1.0");
  EXPECT_EQ(h["Auto-Submitted"], " auto-generated");
  EXPECT_EQ(r.content_type, "text/plain");
  EXPECT_EQ(r.charset, "utf-8");
  EXPECT_EQ(r.encoding, "quoted-printable");
  EXPECT_EQ(r.subject,
            "[tlsrptd] example.com: MX change \xE2\x80\x94 mx3.example.net  Bcc: evil@x is not in your MTA-STS policy");
  expect_only_encoded_words(h["Subject"]);
  expect_wire_clean(msg);
  EXPECT_EQ(msg.find("\nBcc:"), std::string::npos);
  EXPECT_TRUE(msg.ends_with("\r\n"));
}

TEST(EmailSink, ReportFieldsOnlyInTheBodyEscaped) {
  const Alert a = hostile_alert();
  std::string msg = compose(a, "x@example.com");
  Read r = read(msg);
  EXPECT_EQ(r.body, render_text(a));  // the body a reader gets is exactly the rendered text
  const std::string& body = r.body;
  EXPECT_NE(body.find("Evil\\r\\nBcc: evil@x"), std::string::npos);
  EXPECT_NE(body.find("mx3.example.net\\r\\nBcc: evil@x: 40"), std::string::npos);
  EXPECT_NE(body.find("=?UTF-8?Q?=0A?=Bcc: evil@x"), std::string::npos);  // shown literally, in the body
  EXPECT_NE(body.find("nul\\x00byte"), std::string::npos);
  EXPECT_NE(body.find(std::string(kMaxShownValue, 'A') + "\xE2\x80\xA6"), std::string::npos);
  EXPECT_EQ(body.find(std::string(kMaxShownValue + 1, 'A')), std::string::npos);
  // The explanation's CR/LF became spaces: no line of the body starts with "Bcc:".
  EXPECT_EQ(body.find("\nBcc:"), std::string::npos);
  EXPECT_NE(body.find("Domain:       example.com"), std::string::npos);
  EXPECT_NE(body.find("Alert:        MX change (mx-change), severity critical"), std::string::npos);
  // Report text never became a header.
  for (const auto& [k, v] : r.headers) EXPECT_NE(g_ascii_strcasecmp(k.c_str(), "Bcc"), 0);
  EXPECT_EQ(r.headers.size(), 9u);
}

// A line of the text starting "From " (or one a soft line break starts so) is armored
// as "=46rom " on the wire; a leading "." is left to SMTP's dot-stuffing (RFC 5321
// §4.5.2, done by libcurl), so it must only come back intact.
TEST(EmailSink, BodyRoundTripsWithNonAsciiLongLinesAndMboxTraps) {
  Alert a = hostile_alert();
  a.evidence.reporters = {
      "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x93\xA7 a=b c ",  // é, 日本, 📧, "=", trailing blank
      std::string(200, 'z'),
      std::string(73, 'y') + "From the relay",  // "From " right after a soft line break
      std::string(73, 'w') + ".dot after a break",
  };
  a.evidence.new_policy = {"From here", ".starts with a dot", "."};
  std::string msg = compose(a);
  Read r = read(msg);
  EXPECT_EQ(r.body, render_text(a));
  EXPECT_NE(r.body.find("\n  From here\n"), std::string::npos);
  EXPECT_NE(r.body.find("\n  .starts with a dot\n"), std::string::npos);
  EXPECT_NE(r.body.find("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x93\xA7 a=b c \n"), std::string::npos);
  expect_wire_clean(msg);
  EXPECT_EQ(msg.find("\r\nFrom "), std::string::npos);
  EXPECT_NE(r.wire_body.find("=46rom the relay"), std::string::npos) << r.wire_body;
  EXPECT_NE(r.wire_body.find("caf=C3=A9 =E6=97=A5=E6=9C=AC =F0=9F=93=A7 a=3Db c=20"), std::string::npos) << r.wire_body;
  // Quoted-printable lines (RFC 2045 §6.7: 76) may grow by the 2 characters of "=46".
  for (std::size_t pos = 0; pos < r.wire_body.size();) {
    auto eol = r.wire_body.find("\r\n", pos);
    if (eol == std::string::npos) eol = r.wire_body.size();
    std::string_view line(r.wire_body.data() + pos, eol - pos);
    EXPECT_LE(line.size(), line.starts_with("=46rom ") ? 78u : 76u) << line;
    pos = eol + 2;
  }
}

TEST(EmailSink, NonAsciiSubjectRoundTrips) {
  Alert a = hostile_alert();
  a.policy_domain = "b\xC3\xBC" "cher.example";  // bücher
  a.summary = "Richtlinie ge\xC3\xA4ndert \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x93\xA7";
  std::string msg = compose(a);
  Read r = read(msg);
  EXPECT_EQ(r.subject, email_subject(a));
  EXPECT_EQ(r.subject, "[tlsrptd] b\xC3\xBC" "cher.example: Richtlinie ge\xC3\xA4ndert \xE2\x80\x94 "
                       "\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x93\xA7");
  std::map<std::string, std::string> h(r.headers.begin(), r.headers.end());
  expect_only_encoded_words(h["Subject"]);
  expect_wire_clean(msg);
}

// Report text that looks like an RFC 2047 encoded word must reach the reader as that
// text: written raw, a reader would decode "=?utf-8?q?=0a?=" into a line break
// (GMime's own subject encoder leaves such ASCII text unencoded).
TEST(EmailSink, EncodedWordLookalikesStayLiteral) {
  for (std::string summary : {"STARTTLS failure \xE2\x80\x94 =?utf-8?q?=0a?=bcc: evil@x did not offer STARTTLS",
                              "x =?UTF-8?Q?=0D=0ABcc:_evil@x?= y", "=?us-ascii?B?DQpCY2M6IGV2aWxAeA==?="}) {
    Alert a = hostile_alert();
    a.summary = summary;
    std::string msg = compose(a);
    Read r = read(msg);
    EXPECT_EQ(r.subject, "[tlsrptd] example.com: " + summary);
    EXPECT_EQ(r.subject.find_first_of("\r\n"), std::string::npos);
    std::map<std::string, std::string> h(r.headers.begin(), r.headers.end());
    expect_only_encoded_words(h["Subject"]);
    EXPECT_EQ(r.headers.size(), 9u);
  }
}

// The words of encode_words(text): each at most 75 characters, whole characters
// only, and together the text. Returns how many words, and whether a word before the
// last is padded.
std::pair<std::size_t, bool> check_words(const std::string& text) {
  std::string enc = encode_words(text), joined;
  std::size_t pos = 0, words = 0;
  bool padded_early = false;
  while ((pos = enc.find("=?UTF-8?B?", pos)) != std::string::npos) {
    auto end = enc.find("?=", pos + 10);
    EXPECT_LE(end + 2 - pos, 75u);
    std::string b64 = enc.substr(pos + 10, end - pos - 10);
    std::string chunk = b64decode(b64);
    if (enc.find("=?UTF-8?B?", end) != std::string::npos && b64.find('=') != std::string::npos) padded_early = true;
    for (std::size_t i = 0; i < chunk.size();) {
      std::size_t n = utf8_sequence_length(chunk, i);
      EXPECT_GT(n, 0u) << "split character in an encoded word";
      if (n == 0) break;
      i += n;
    }
    joined += chunk;
    pos = end + 2;
    ++words;
  }
  EXPECT_EQ(joined, text);
  return {words, padded_early};
}

TEST(EmailSink, LongSubjectIsCutAndWordsNeverSplitACharacter) {
  Alert a = hostile_alert();
  a.summary = "Certificate change \xE2\x80\x94 " + std::string(100, 'x');
  for (int i = 0; i < 40; ++i) a.summary += "\xC3\xA9";  // é
  std::string subject = email_subject(a);
  EXPECT_LE(subject.size(), kMaxSubjectBytes);
  EXPECT_TRUE(subject.ends_with("\xE2\x80\xA6"));
  auto [words, padded_early] = check_words(subject);
  EXPECT_GT(words, 1u);
  // Padding only in the last word: GMime-based readers lose what follows a padded one.
  EXPECT_FALSE(padded_early);
  std::string msg = compose(a);
  Read r = read(msg);
  EXPECT_EQ(r.subject, subject);
  expect_wire_clean(msg);
}

TEST(EmailSink, EncodedWordsOfAnyCharacterMixStayWhole) {
  // 1 byte, then 4- and 2-byte characters in turn: no character ends at a multiple of
  // 3 bytes, so words are cut where characters end and padded.
  std::string text = "a";
  for (int i = 0; i < 30; ++i) text += "\xF0\x9D\x84\x9E\xC3\xA9";  // 𝄞é
  EXPECT_GT(check_words(text).first, 1u);
  std::string mixed;
  for (int i = 0; i < 20; ++i) mixed += "x\xE6\x97\xA5\xC3\xA9\xF0\x9F\x93\xA7 ";  // x日é📧
  auto [words, padded_early] = check_words(mixed);
  EXPECT_GT(words, 1u);
  EXPECT_FALSE(padded_early);
}

TEST(EmailSink, OnlyBareAddressesAreValid) {
  EXPECT_TRUE(valid_mailbox("admin@example.com"));
  EXPECT_FALSE(valid_mailbox("admin@example.com\r\nBcc: x@y"));
  EXPECT_FALSE(valid_mailbox("Admin <admin@example.com>"));
  EXPECT_FALSE(valid_mailbox("a@b,c@d"));
  EXPECT_FALSE(valid_mailbox("a@@b"));
  EXPECT_FALSE(valid_mailbox("@b"));
  EXPECT_FALSE(valid_mailbox("a b@c"));
}

}  // namespace
}  // namespace tlsrpt::alerts
