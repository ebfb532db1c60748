// The alert mail as composed (the SMTP delivery itself is tested end to end against
// a real SMTP server in tests/e2e/test_alerts.py): a fixed header set, an encoded
// Subject, report text only in the body, no header injection (reliability §2.8).
#include "alerts/sinks/email_sink.hpp"

#include <gtest/gtest.h>

#include <map>

#include "alerts/render.hpp"
#include "alerts/text_safety.hpp"
#include "parser/datetime.hpp"

namespace tlsrpt::alerts {
namespace {

std::string b64decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) continue;
    buf = buf << 6 | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>(buf >> bits & 0xFF));
    }
  }
  return out;
}

std::string qp_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '=' && i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') {
      i += 2;
    } else if (in[i] == '=' && i + 2 < in.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (in[i] == '\r') {
      continue;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

struct Parsed {
  std::vector<std::pair<std::string, std::string>> headers;  // unfolded, in order
  std::string body;                                           // as transmitted
};

Parsed parse(const std::string& msg) {
  Parsed p;
  auto end = msg.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos);
  std::string head = msg.substr(0, end + 2);
  p.body = msg.substr(end + 4);
  std::size_t pos = 0;
  while (pos < head.size()) {
    auto eol = head.find("\r\n", pos);
    std::string line = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      p.headers.back().second += line;
    } else {
      auto colon = line.find(':');
      p.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
    }
  }
  return p;
}

std::string decode_subject(const std::string& raw) {
  std::string out;
  std::size_t pos = 0;
  while ((pos = raw.find("=?UTF-8?B?", pos)) != std::string::npos) {
    auto end = raw.find("?=", pos + 10);
    out += b64decode(raw.substr(pos + 10, end - pos - 10));
    pos = end + 2;
  }
  return out;
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

TEST(EmailSink, FixedHeaderSetAndEncodedSubject) {
  std::string msg = compose_email(hostile_alert(), "tlsrptd@example.com", kTo,
                                  parse_rfc3339("2024-05-05T06:07:08Z")->time, "abc123@example.com");
  Parsed p = parse(msg);
  std::vector<std::string> names;
  for (const auto& [k, v] : p.headers) names.push_back(k);
  EXPECT_EQ(names, (std::vector<std::string>{"Date", "From", "To", "Subject", "Message-ID", "MIME-Version",
                                              "Content-Type", "Content-Transfer-Encoding", "Auto-Submitted"}));
  std::map<std::string, std::string> h(p.headers.begin(), p.headers.end());
  EXPECT_EQ(h["Date"], " Sun, 05 May 2024 06:07:08 +0000");
  EXPECT_EQ(h["From"], " tlsrptd <tlsrptd@example.com>");
  EXPECT_EQ(h["To"], " <admin@example.com>, <noc@example.org>");
  EXPECT_EQ(h["Message-ID"], " <abc123@example.com>");
  EXPECT_EQ(decode_subject(h["Subject"]),
            "[tlsrptd] example.com: MX change \xE2\x80\x94 mx3.example.net  Bcc: evil@x is not in your MTA-STS policy");
  // Every header byte is printable ASCII, every line short.
  std::size_t pos = 0;
  while (pos < msg.size()) {
    auto eol = msg.find("\r\n", pos);
    ASSERT_NE(eol, std::string::npos) << "bare line end at " << pos;
    EXPECT_LE(eol - pos, 78u) << msg.substr(pos, eol - pos);
    for (std::size_t i = pos; i < eol; ++i) {
      unsigned char c = static_cast<unsigned char>(msg[i]);
      EXPECT_TRUE((c >= 0x20 && c < 0x7f) || c == '\t') << "byte " << int(c) << " at " << i;
    }
    pos = eol + 2;
  }
  EXPECT_EQ(msg.find("\nBcc:"), std::string::npos);
}

TEST(EmailSink, ReportFieldsOnlyInTheBodyEscaped) {
  std::string msg = compose_email(hostile_alert(), "tlsrptd@example.com", kTo,
                                  parse_rfc3339("2024-05-05T06:07:08Z")->time, "x@example.com");
  std::string body = qp_decode(parse(msg).body);
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
  // On the wire a body line never starts with "." or "From ".
  EXPECT_EQ(msg.find("\r\n."), std::string::npos);
  EXPECT_EQ(msg.find("\r\nFrom "), std::string::npos);
}

TEST(EmailSink, LongSubjectIsCutAndWordsNeverSplitACharacter) {
  Alert a = hostile_alert();
  a.summary = "Certificate change \xE2\x80\x94 " + std::string(100, 'x');
  for (int i = 0; i < 40; ++i) a.summary += "\xC3\xA9";  // é
  std::string subject = email_subject(a);
  EXPECT_LE(subject.size(), kMaxSubjectBytes);
  EXPECT_TRUE(subject.ends_with("\xE2\x80\xA6"));
  std::string enc = encode_words(subject);
  std::size_t pos = 0;
  while ((pos = enc.find("=?UTF-8?B?", pos)) != std::string::npos) {
    auto end = enc.find("?=", pos + 10);
    EXPECT_LE(end + 2 - pos, 75u);
    std::string chunk = b64decode(enc.substr(pos + 10, end - pos - 10));
    for (std::size_t i = 0; i < chunk.size();) {
      std::size_t n = utf8_sequence_length(chunk, i);
      ASSERT_GT(n, 0u) << "split character in an encoded word";
      i += n;
    }
    pos = end + 2;
  }
}

TEST(EmailSink, QuotedPrintable) {
  EXPECT_EQ(quoted_printable("a=b c \nend "), "a=3Db c=20\r\nend=20");  // trailing blanks encoded
  EXPECT_EQ(quoted_printable(".dot\nFrom me"), "=2Edot\r\n=46rom me");
  EXPECT_EQ(quoted_printable("caf\xC3\xA9"), "caf=C3=A9");
  std::string long_line(200, 'z');
  std::string enc = quoted_printable(long_line);
  for (std::size_t pos = 0; pos < enc.size();) {
    auto eol = enc.find("\r\n", pos);
    if (eol == std::string::npos) eol = enc.size();
    EXPECT_LE(eol - pos, 76u);
    pos = eol + 2;
  }
  EXPECT_EQ(qp_decode(enc), long_line);
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
