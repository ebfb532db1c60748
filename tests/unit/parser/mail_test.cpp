// parser/mail.cpp: finding the report in real and hostile mails, the provenance
// kept, the limits, and the Ingestor's mail path (parser/ingest.cpp).
#include "parser/mail.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "parser/gunzip.hpp"
#include "parser/ingest.hpp"
#include "parser/notes.hpp"
#include "test_support.hpp"

namespace tlsrpt {
namespace {

using test::gzip;

const std::string kReport =
    R"({"organization-name":"Example Org","date-range":{"start-datetime":"2024-09-15T00:00:00Z",)"
    R"("end-datetime":"2024-09-15T23:59:59Z"},"contact-info":"tlsrpt@example.org","report-id":"r-1",)"
    R"("policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce",)"
    R"("mx: mx.example.net","max_age: 86400"],"policy-domain":"example.net"},)"
    R"("summary":{"total-successful-session-count":5,"total-failure-session-count":1}}]})";

std::string base64(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t col = 0;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= static_cast<unsigned char>(in[i + 2]);
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? t[v & 63] : '=';
    if ((col += 4) >= 76) {
      out += "\r\n";
      col = 0;
    }
  }
  return out + "\r\n";
}

const std::string kTop =
    "From: noreply-smtp-tls-reporting@example.org\r\n"
    "To: tlsrpt@example.net\r\n"
    "Date: Mon, 16 Sep 2024 04:17:13 -0700\r\n"
    "Message-ID: <m1@example.org>\r\n"
    "Subject: Report Domain: example.net Submitter: example.org Report-ID: <r-1@example.org>\r\n"
    "TLS-Report-Domain: example.net\r\n"
    "TLS-Report-Submitter: example.org\r\n"
    "MIME-Version: 1.0\r\n";

// A leaf part: headers (each ending CRLF) and a body.
std::string part(std::string_view headers, std::string_view body) {
  return std::string(headers) + "\r\n" + std::string(body);
}

std::string gzip_part(std::string_view type = "application/tlsrpt+gzip", std::string_view json = kReport) {
  return part("Content-Type: " + std::string(type) + "; name=\"example.org!example.net!1726358400!1726444799.json.gz\"\r\n"
              "Content-Disposition: attachment; filename=\"example.org!example.net!1726358400!1726444799.json.gz\"\r\n"
              "Content-Transfer-Encoding: base64\r\n",
              base64(gzip(json)));
}

std::string text_part(std::string_view text = "This is an aggregate TLS report from example.org\r\n") {
  return part("Content-Type: text/plain; charset=\"us-ascii\"\r\n", text);
}

// A multipart body with `content_type` (its boundary parameter is added).
std::string multipart(std::string_view content_type, const std::vector<std::string>& parts, bool close = true,
                      const std::string& boundary = "b0undary") {
  std::string m = "Content-Type: " + std::string(content_type) + "; boundary=\"" + boundary + "\"\r\n\r\n";
  for (const auto& p : parts) m += "--" + boundary + "\r\n" + p + "\r\n";
  if (close) m += "--" + boundary + "--\r\n";
  return m;
}

std::string report_mail(const std::vector<std::string>& parts) {
  return kTop + multipart("multipart/report; report-type=tlsrpt", parts);
}

std::expected<MailReport, Error> extract(std::string_view m, const Limits& l = {}) { return extract_mail_report(m, l); }

bool has_note(const std::vector<Note>& notes, std::string_view code) {
  return std::any_of(notes.begin(), notes.end(), [&](const Note& n) { return n.code == code; });
}

std::string gunzipped(const std::string& s) {
  Ingestor ing;
  auto r = ing.inflate(s);
  return r ? std::string(*r) : std::string("<not gzip>");
}

// ---- the RFC 8460 §5.3 shape and its real-world variants ----

TEST(Mail, RfcShapeGivesTheDecodedAttachmentAndProvenance) {
  auto r = extract(report_mail({text_part(), gzip_part()}));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_TRUE(has_gzip_magic(r->attachment));
  EXPECT_EQ(gunzipped(r->attachment), kReport);
  const auto& p = r->provenance;
  EXPECT_EQ(p.tls_report_domain, "example.net");
  EXPECT_EQ(p.tls_report_submitter, "example.org");
  EXPECT_EQ(p.subject, "Report Domain: example.net Submitter: example.org Report-ID: <r-1@example.org>");
  EXPECT_EQ(p.message_id, "<m1@example.org>");
  EXPECT_EQ(p.from, "noreply-smtp-tls-reporting@example.org");
  EXPECT_EQ(p.date, "Mon, 16 Sep 2024 04:17:13 -0700");
  EXPECT_EQ(p.filename, "example.org!example.net!1726358400!1726444799.json.gz");
  EXPECT_EQ(p.content_type, "application/tlsrpt+gzip");
  EXPECT_FALSE(p.dkim_signature_present);
  EXPECT_TRUE(r->notes.empty());
}

TEST(Mail, ReportTypeQuotedOrNotBeforeOrAfterTheBoundary) {
  const std::string body = "--B\r\n" + text_part() + "\r\n--B\r\n" + gzip_part() + "\r\n--B--\r\n";
  for (std::string ct : {"multipart/report; report-type=tlsrpt; boundary=\"B\"",
                         "multipart/report; boundary=\"B\"; report-type=tlsrpt",
                         "multipart/report; report-type=\"tlsrpt\";\r\n boundary=\"B\"",
                         "multipart/report;\r\n\tboundary=B; REPORT-TYPE=\"TLSRPT\""}) {
    auto r = extract(kTop + "Content-Type: " + ct + "\r\n\r\n" + body);
    ASSERT_TRUE(r) << ct << ": " << r.error().text();
    EXPECT_EQ(gunzipped(r->attachment), kReport) << ct;
  }
}

TEST(Mail, NestedMultipartIsWalked) {
  // A gateway wrapped the report in multipart/mixed with a banner.
  std::string inner = multipart("multipart/report; report-type=tlsrpt", {text_part(), gzip_part()}, true, "inner");
  std::string m = kTop + multipart("multipart/mixed", {text_part("[EXTERNAL] be careful\r\n"), inner}, true, "outer");
  auto r = extract(m);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(gunzipped(r->attachment), kReport);
}

TEST(Mail, SinglePartMessages) {
  // Not multipart at all: the body is the report (mox accepts this; so do we).
  auto r = extract(kTop + "Content-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
                   base64(gzip(kReport)));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(gunzipped(r->attachment), kReport);
  EXPECT_EQ(r->provenance.content_type, "application/tlsrpt+gzip");
  EXPECT_EQ(r->provenance.filename, "");

  r = extract(kTop + "Content-Type: application/tlsrpt+json\r\n\r\n" + kReport + "\r\n");
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(r->attachment.substr(0, kReport.size()), kReport);
}

TEST(Mail, QuotedPrintableJson) {
  // RFC 8460 §5.3: application/tlsrpt+json, here quoted-printable.
  std::string qp;
  for (char c : kReport) qp += c == '=' ? std::string("=3D") : c == ':' ? std::string("=3A") : std::string(1, c);
  std::string folded;
  for (std::size_t i = 0; i < qp.size(); i += 70) {
    std::size_t n = std::min<std::size_t>(70, qp.size() - i);
    if (qp.substr(i + n - 2, 2).find('=') != std::string::npos && i + n < qp.size()) n -= 2;  // never split =XX
    folded += qp.substr(i, n) + (i + n < qp.size() ? "=\r\n" : "\r\n");
    i -= 70 - n;
  }
  auto r = extract(report_mail({text_part(), part("Content-Type: application/tlsrpt+json\r\n"
                                                  "Content-Transfer-Encoding: quoted-printable\r\n",
                                                  folded)}));
  ASSERT_TRUE(r) << r.error().text();
  std::string a = r->attachment;
  while (!a.empty() && (a.back() == '\n' || a.back() == '\r')) a.pop_back();
  EXPECT_EQ(a, kReport);
}

TEST(Mail, LeniencyLabelsAreCheckedByContent) {
  // docs/receiver-rules.md#mail-delivery (part choice): other labels, checked by content.
  for (std::string type : {"application/gzip", "application/x-gzip", "application/octet-stream", "application/json"}) {
    auto r = extract(report_mail({text_part(), gzip_part(type)}));
    ASSERT_TRUE(r) << type << ": " << r.error().text();
    EXPECT_EQ(gunzipped(r->attachment), kReport) << type;
    EXPECT_EQ(r->provenance.content_type, type);
  }
  auto r = extract(report_mail({text_part(), part("Content-Type: application/octet-stream\r\n", kReport)}));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_TRUE(r->attachment.starts_with(kReport));
  // A text/plain part named *.json.gz (a mail client's guess) is looked at too.
  r = extract(report_mail({text_part(), gzip_part("text/plain")}));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(gunzipped(r->attachment), kReport);
}

TEST(Mail, GzipLabelHoldingJsonAndTheReverseAreNoted) {
  // quirk(parsedmarc): application/tlsrpt+gzip holding plain JSON, and the reverse
  // (docs/receiver-rules.md#mail-delivery: noted).
  auto r = extract(report_mail({text_part(), part("Content-Type: application/tlsrpt+gzip\r\n", kReport)}));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_TRUE(r->attachment.starts_with(kReport));
  EXPECT_TRUE(has_note(r->notes, note::kMailPartLabelMismatch));

  r = extract(report_mail({text_part(), part("Content-Type: application/tlsrpt+json\r\n"
                                             "Content-Transfer-Encoding: base64\r\n",
                                             base64(gzip(kReport)))}));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(gunzipped(r->attachment), kReport);
  EXPECT_TRUE(has_note(r->notes, note::kMailPartLabelMismatch));

  r = extract(report_mail({text_part(), part("Content-Type: application/json\r\nContent-Transfer-Encoding: base64\r\n",
                                             base64(gzip(kReport)))}));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_TRUE(has_note(r->notes, note::kMailPartLabelMismatch));

  r = extract(report_mail({text_part(), gzip_part()}));
  ASSERT_TRUE(r);
  EXPECT_FALSE(has_note(r->notes, note::kMailPartLabelMismatch));
}

TEST(Mail, AttachmentWithOrWithoutNames) {
  const std::string b64 = base64(gzip(kReport));
  struct Case {
    std::string headers;
    std::string filename;
  } cases[] = {
      {"Content-Type: application/tlsrpt+gzip; name=\"n.json.gz\"\r\n", "n.json.gz"},
      {"Content-Type: application/tlsrpt+gzip\r\nContent-Disposition: attachment; filename=\"f.json.gz\"\r\n", "f.json.gz"},
      {"Content-Type: application/tlsrpt+gzip\r\n", ""},
      // quirk(microsoft): no name=, a Content-Description with the name, a folded filename.
      {"Content-Type: application/tlsrpt+gzip\r\nContent-Description:\r\n d.json.gz\r\n"
       "Content-Disposition: attachment;\r\n\tfilename=\"microsoft.com!example.net!1!2!133.json.gz\"\r\n",
       "microsoft.com!example.net!1!2!133.json.gz"},
      // RFC 2231 continuation.
      {"Content-Type: application/tlsrpt+gzip\r\nContent-Disposition: attachment;\r\n filename*0=\"a!b\";\r\n"
       " filename*1=\".json.gz\"\r\n",
       "a!b.json.gz"},
  };
  for (const auto& c : cases) {
    auto r = extract(report_mail({text_part(), part(c.headers + "Content-Transfer-Encoding: base64\r\n", b64)}));
    ASSERT_TRUE(r) << c.headers << ": " << r.error().text();
    EXPECT_EQ(r->provenance.filename, c.filename);
    EXPECT_EQ(gunzipped(r->attachment), kReport);
  }
}

TEST(Mail, HtmlFirstPart) {
  // quirk(microsoft): since 2024 the first part is text/html in quoted-printable.
  auto r = extract(report_mail({part("Content-Type: text/html; charset=\"us-ascii\"\r\n"
                                     "Content-Transfer-Encoding: quoted-printable\r\n",
                                     "<html><body><p>This is an aggregate TLS report from microsoft.com</p>=\r\n"
                                     "<p>Privacy statement</p></body></html>\r\n"),
                                gzip_part()}));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(gunzipped(r->attachment), kReport);
}

TEST(Mail, MissingClosingBoundary) {
  // quirk(mailru): the last boundary is "--b" followed by blank lines, never "--b--".
  std::string m = kTop + multipart("multipart/report; report-type=\"tlsrpt\"", {text_part(), gzip_part()}, false);
  m += "--b0undary\r\n\r\n\r\n";
  auto r = extract(m);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(gunzipped(r->attachment), kReport);
  // Cut off right after the base64, no boundary at all.
  r = extract(kTop + multipart("multipart/report; report-type=tlsrpt", {text_part(), gzip_part()}, false));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(gunzipped(r->attachment), kReport);
}

TEST(Mail, FoldedAndEncodedHeaders) {
  std::string top =
      "From: =?UTF-8?B?w4l4YW1wbGU=?= <noreply@example.org>\r\n"
      "Subject: Report\r\n Domain: example.net\r\n Submitter: example.org\r\n Report-ID: <r-1@example.org>\r\n"
      "TLS-Report-Domain:\r\n example.net\r\n"
      "Message-ID:\r\n <m1@example.org>\r\n"
      "MIME-Version: 1.0\r\n";
  auto r = extract(top + multipart("multipart/report;\r\n report-type=tlsrpt", {text_part(), gzip_part()}));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(r->provenance.subject, "Report Domain: example.net Submitter: example.org Report-ID: <r-1@example.org>");
  EXPECT_EQ(r->provenance.from, "\xC3\x89xample <noreply@example.org>");  // "Éxample", RFC 2047 decoded
  EXPECT_EQ(r->provenance.tls_report_domain, "example.net");
  EXPECT_EQ(r->provenance.message_id, "<m1@example.org>");
  EXPECT_EQ(r->provenance.tls_report_submitter, "");
}

TEST(Mail, LfLineEndingsAndMboxFromLine) {
  std::string m = report_mail({text_part(), gzip_part()});
  std::string lf;
  for (char c : m)
    if (c != '\r') lf.push_back(c);
  auto r = extract("From MAILER-DAEMON Mon Sep 16 04:17:13 2024\n" + lf);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(gunzipped(r->attachment), kReport);
  EXPECT_EQ(r->provenance.tls_report_domain, "example.net");
}

TEST(Mail, DkimAndAuthenticationResultsHeadersAreKept) {
  std::string m = "Authentication-Results: mx.example.net;\r\n dkim=pass header.d=example.org\r\n"
                  "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel;\r\n\tb=abc\r\n" +
                  report_mail({text_part(), gzip_part()});
  auto r = extract(m);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_TRUE(r->provenance.dkim_signature_present);
  ASSERT_EQ(r->provenance.authentication_results.size(), 1u);
  EXPECT_EQ(r->provenance.authentication_results[0], "mx.example.net; dkim=pass header.d=example.org");
  ASSERT_EQ(r->provenance.dkim_signatures.size(), 1u);
  EXPECT_EQ(r->provenance.dkim_signatures[0], "v=1; a=rsa-sha256; d=example.org; s=sel; b=abc");  // unfolded, tab blanked
}

// ---- two reports in one mail ----

TEST(Mail, TwoReportPartsTheFirstWinsAndTheOtherIsNoted) {
  // Decision (docs/receiver-rules.md#mail-delivery): the first application/tlsrpt part
  // in MIME order is the report; the others are noted, and the raw mail keeps them.
  std::string other = R"({"organization-name":"Other","report-id":"r-2","policies":[]})";
  auto r = extract(report_mail({text_part(), gzip_part(), part("Content-Type: application/tlsrpt+json\r\n", other)}));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(gunzipped(r->attachment), kReport);
  ASSERT_TRUE(has_note(r->notes, note::kMailExtraReportPart));

  // A gzip and a json part of the same report: the first (json) is used.
  r = extract(report_mail({text_part(), part("Content-Type: application/tlsrpt+json\r\n", kReport), gzip_part()}));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_TRUE(r->attachment.starts_with(kReport));
  EXPECT_TRUE(has_note(r->notes, note::kMailExtraReportPart));
}

TEST(Mail, LabelledPartBeatsAnEarlierUnlabelledOne) {
  std::string other = R"({"organization-name":"Other","report-id":"r-2","policies":[]})";
  auto r = extract(report_mail({part("Content-Type: application/json\r\n", other), gzip_part()}));
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(gunzipped(r->attachment), kReport);
  EXPECT_EQ(r->provenance.content_type, "application/tlsrpt+gzip");
  EXPECT_TRUE(has_note(r->notes, note::kMailExtraReportPart));
}

// ---- mails without a report ----

TEST(Mail, PlainMailIsNotAReport) {
  auto r = extract("From: a@example.org\r\nTo: b@example.net\r\nSubject: lunch?\r\n\r\nAt noon?\r\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::not_a_report);
  EXPECT_NE(r.error().message.find("no TLS report"), std::string::npos) << r.error().message;
}

TEST(Mail, MultipartReportWithoutItsReportPart) {
  // chatmail/relay#181: a client dropped the attachment.
  auto r = extract(report_mail({text_part()}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::not_a_report);
}

TEST(Mail, DmarcFeedbackReportIsNotATlsReport) {
  // RFC 6591 ARF: a multipart/report of another report-type is not a TLS report
  // (docs/receiver-rules.md#mail-delivery).
  std::string m = kTop + multipart("multipart/report; report-type=feedback-report",
                                   {text_part("This is an authentication failure report\r\n"),
                                    part("Content-Type: message/feedback-report\r\n",
                                         "Feedback-Type: auth-failure\r\nVersion: 1\r\nAuth-Failure: dkim\r\n"),
                                    part("Content-Type: text/rfc822-headers\r\n", "From: x@example.org\r\n")});
  auto r = extract(m);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::not_a_report);
  EXPECT_NE(r.error().message.find("feedback-report"), std::string::npos) << r.error().message;
}

TEST(Mail, DmarcAggregateReportIsNotATlsReport) {
  // RFC 7489 aggregate reports: gzipped (or zipped) XML attachments.
  std::string xml = "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>google.com</org_name>"
                    "</report_metadata></feedback>";
  for (std::string type : {"application/gzip", "application/octet-stream"}) {
    std::string m = kTop + multipart("multipart/mixed",
                                     {text_part(), part("Content-Type: " + type + "; name=\"google.com!example.net!1!2.xml.gz\"\r\n"
                                                        "Content-Transfer-Encoding: base64\r\n",
                                                        base64(gzip(xml)))});
    auto r = extract(m);
    ASSERT_FALSE(r) << type;
    EXPECT_EQ(r.error().reason, RejectReason::not_a_report) << type;
  }
  // Single-part, as Google sends them.
  auto r = extract(kTop + "Content-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
                   base64("PK\x03\x04 zipped xml"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::not_a_report);
}

TEST(Mail, BounceQuotingAReportIsNotAReport) {
  // A DSN quotes the original message, which held a TLS report: not ours to count.
  std::string original = report_mail({text_part(), gzip_part()});
  std::string m = "From: MAILER-DAEMON@example.net\r\nTo: tlsrpt@example.net\r\nSubject: Undelivered Mail\r\n"
                  "MIME-Version: 1.0\r\n" +
                  multipart("multipart/report; report-type=delivery-status",
                            {text_part("Your message could not be delivered.\r\n"),
                             part("Content-Type: message/delivery-status\r\n",
                                  "Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; x@example.org\r\n"
                                  "Action: failed\r\nStatus: 5.1.1\r\n"),
                             part("Content-Type: message/rfc822\r\n", original)});
  auto r = extract(m);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::not_a_report);
  EXPECT_NE(r.error().message.find("delivery-status"), std::string::npos) << r.error().message;
}

TEST(Mail, ForwardedReportIsNotAReport) {
  // Its DKIM signature is inside the quoted mail, not on this one.
  std::string m = kTop + multipart("multipart/mixed", {text_part("FYI\r\n"),
                                                       part("Content-Type: message/rfc822\r\n",
                                                            report_mail({text_part(), gzip_part()}))});
  auto r = extract(m);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::not_a_report);
}

TEST(Mail, UnrelatedJsonAttachmentIsNotAReport) {
  std::string m = kTop + multipart("multipart/mixed", {text_part(), part("Content-Type: application/json; name=\"package.json\"\r\n",
                                                                         R"({"name":"left-pad","version":"1.3.0"})")});
  auto r = extract(m);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::not_a_report);
}

// ---- hostile MIME and the limits ----

TEST(Mail, FilenameIsALabelNeverAPath) {
  // docs/receiver-rules.md#mail-delivery: kept as a label (control characters blanked),
  // never used as a path.
  for (auto [given, kept] : {std::pair<std::string, std::string>{"../../x", "../../x"},
                             {"/etc/passwd", "/etc/passwd"},
                             {"a\tb.json.gz", "a b.json.gz"}}) {
    auto r = extract(report_mail({text_part(), part("Content-Type: application/tlsrpt+gzip; name=\"" + given + "\"\r\n"
                                                    "Content-Transfer-Encoding: base64\r\n",
                                                    base64(gzip(kReport)))}));
    ASSERT_TRUE(r) << given << ": " << r.error().text();
    EXPECT_EQ(r->provenance.filename, kept);
  }
  EXPECT_FALSE(std::filesystem::exists("x"));
}

// Found by fuzz_mail: the report part's label went into the provenance (and into
// notes and error messages) at any length.
TEST(Mail, ContentTypeLabelIsCapped) {
  const std::string type = "application/tlsrpt+" + std::string(300, 'x');
  Limits l;
  l.max_identifier_bytes = 64;
  auto r = extract(report_mail({text_part(), gzip_part(type)}), l);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(r->provenance.content_type, type.substr(0, 64));
}

// Found by fuzz_mail in CI: GMime keeps 8-bit bytes in a media type, so the label
// could be cut on a UTF-8 boundary short of the cap and lose its "/". RFC 2045: a type
// that is not a token is no media type; the part counts as application/octet-stream
// (and is still taken for its .json file name).
TEST(Mail, MediaTypeThatIsNotATokenIsOctetStream) {
  for (const std::string& type : {std::string("aaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9/json"), std::string("application/tlsrpt+gzip\xc3\xa9"),
                                 std::string("app\x7flication/tlsrpt+gzip")}) {
    Limits l;
    l.max_identifier_bytes = 24;
    l.max_submission_bytes = 64 * kKiB;
    auto r = extract(report_mail({text_part(), gzip_part(type)}), l);
    ASSERT_TRUE(r) << r.error().text();
    EXPECT_EQ(r->provenance.content_type, "application/octet-stream") << type;
  }
}

// Found by fuzz_ingest: a part was a candidate by its file name ending in .json only
// while the name was shorter than the identifier cap, so tighter limits could pick
// another part of the same mail.
TEST(Mail, LongJsonFileNameIsACandidateWhateverTheCap) {
  const std::string name = std::string(100, 'n') + ".json";
  const std::string mail = report_mail({text_part(), part("Content-Type: application/x-report\r\n"
                                                          "Content-Disposition: attachment; filename=\"" + name + "\"\r\n",
                                                          kReport)});
  for (std::size_t cap : {std::size_t{24}, std::size_t{64}, std::size_t{255}}) {
    Limits l;
    l.max_identifier_bytes = cap;
    auto r = extract(mail, l);
    ASSERT_TRUE(r) << "cap " << cap << ": " << r.error().text();
    EXPECT_EQ(r->attachment, kReport);
    EXPECT_EQ(r->provenance.filename, name.substr(0, std::min(cap, name.size())));
  }
}

// Found by fuzz_mail: a cap landing right after a blank left the value untrimmed.
TEST(Mail, CappedHeaderValuesStayTrimmed) {
  Limits l;
  l.max_identifier_bytes = 5;  // "Mon, 16 Sep ..." cut after "Mon, "
  auto r = extract(report_mail({text_part(), gzip_part()}), l);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(r->provenance.date, "Mon,");
}

TEST(Mail, ThousandPartsAreRefused) {
  std::vector<std::string> parts(1000, text_part("x\r\n"));
  parts.push_back(gzip_part());
  auto r = extract(report_mail(parts));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_many_items);
  // At the limit it is fine.
  Limits l;
  std::vector<std::string> few(l.max_mime_parts - 2, text_part("x\r\n"));
  few.push_back(gzip_part());
  ASSERT_TRUE(extract(report_mail(few), l));
}

std::string nested(std::size_t depth) {
  std::string body = multipart("multipart/report; report-type=tlsrpt", {text_part(), gzip_part()}, true, "b0");
  for (std::size_t i = 1; i < depth; ++i)
    body = multipart("multipart/mixed", {body}, true, "b" + std::to_string(i));
  return kTop + body;
}

TEST(Mail, DeepNestingIsRefused) {
  auto r = extract(nested(100));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_deep);
  Limits l;
  ASSERT_TRUE(extract(nested(l.max_mime_depth), l));
  r = extract(nested(l.max_mime_depth + 1), l);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_deep);
}

TEST(Mail, HugeHeaderBlockIsRefused) {
  std::string headers;
  while (headers.size() < 2 * kMiB) headers += "X-Filler: " + std::string(200, 'a') + "\r\n";
  auto r = extract(headers + report_mail({text_part(), gzip_part()}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_large);
  EXPECT_NE(r.error().message.find("header block"), std::string::npos) << r.error().message;
  // One 2 MiB header line, no body at all.
  r = extract("Subject: " + std::string(2 * kMiB, 'a'));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_large);
}

// GMime would build ~40 bytes of objects per byte of these before our walk could
// count anything (reliability scenario 24, docs/guarantees.md#reliability-scenarios:
// 7 MiB -> 350-400 MiB), so they are
// refused on the raw text first.
TEST(Mail, MassesOfPartsAreRefusedBeforeGmimeBuildsThem) {
  std::string m = kTop + "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n";
  for (int i = 0; i < 200000; ++i) m += "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n";
  auto r = extract(m);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_many_items);
  EXPECT_NE(r.error().message.find("part delimiter lines"), std::string::npos) << r.error().message;
}

TEST(Mail, PartHeaderFloodIsRefusedBeforeGmimeBuildsIt) {
  std::string headers;
  while (headers.size() < 300 * kKiB) headers += "X-" + std::to_string(headers.size()) + ": y\r\n";
  auto r = extract(report_mail({part(headers + "Content-Type: text/plain\r\n", "x\r\n"), gzip_part()}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_large);
  EXPECT_NE(r.error().message.find("header blocks"), std::string::npos) << r.error().message;

  // A Content-Type with a flood of parameters.
  std::string params;
  while (params.size() < 300 * kKiB) params += ";\r\n p" + std::to_string(params.size()) + "=\"v\"";
  r = extract(report_mail({part("Content-Type: text/plain" + params + "\r\n", "x\r\n"), gzip_part()}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_large);

  // The header of a mail quoted in a message/rfc822 part (GMime parses it too).
  r = extract(report_mail({part("Content-Type: message/rfc822\r\n", headers + "Subject: x\r\n\r\nbody\r\n"),
                           gzip_part()}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_large);
  EXPECT_NE(r.error().message.find("header blocks"), std::string::npos) << r.error().message;
}

TEST(Mail, TextLinesStartingWithDashesAreNotRefusedForAFew) {
  std::string text;
  for (int i = 0; i < 50; ++i) text += "-- \r\n---------- separator ----------\r\n";
  auto r = extract(report_mail({text_part(text), gzip_part()}));
  ASSERT_TRUE(r) << r.error().text();
}

TEST(Mail, BrokenBase64IsRefusedWithTheRealReason) {
  std::string b64 = base64(gzip(kReport));
  b64.replace(20, 12, "!!**@@##$$%%");  // not base64: GMime skips, the gzip stream breaks
  auto r = extract(report_mail({text_part(), part("Content-Type: application/tlsrpt+gzip\r\n"
                                                  "Content-Transfer-Encoding: base64\r\n", b64)}));
  ASSERT_TRUE(r) << r.error().text();  // the labelled part is the report, whatever it holds
  Ingestor ing;
  auto out = ing.ingest(report_mail({text_part(), part("Content-Type: application/tlsrpt+gzip\r\n"
                                                       "Content-Transfer-Encoding: base64\r\n", b64)}));
  ASSERT_FALSE(out);
  EXPECT_TRUE(out.error().reason == RejectReason::gzip_corrupt || out.error().reason == RejectReason::gzip_truncated)
      << out.error().text();
  EXPECT_NE(out.error().message.find("application/tlsrpt+gzip part"), std::string::npos) << out.error().message;
  // Truncated base64 too.
  std::string cut = base64(gzip(kReport)).substr(0, 40) + "\r\n";
  out = ing.ingest(report_mail({text_part(), part("Content-Type: application/tlsrpt+gzip\r\n"
                                                  "Content-Transfer-Encoding: base64\r\n", cut)}));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().reason, RejectReason::gzip_truncated) << out.error().text();
}

TEST(Mail, OversizedMailAndPartAreRefused) {
  Limits l;
  l.max_mail_bytes = 64 * kKiB;
  l.max_submission_bytes = 4 * kKiB;
  std::string big = std::string(100 * kKiB, 'x');
  auto r = extract(report_mail({text_part(big), gzip_part()}), l);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_large);

  std::string random;  // incompressible: the gzip stays above 4 KiB
  for (unsigned i = 0, v = 1; i < 8000; ++i) random += static_cast<char>((v = v * 1103515245u + 12345u) >> 24);
  r = extract(report_mail({text_part(), part("Content-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n",
                                             base64(gzip(random)))}),
              l);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, RejectReason::too_large);
  EXPECT_NE(r.error().message.find("decoded"), std::string::npos) << r.error().message;
}

TEST(Mail, GmimeInitialisationIsSafeFromManyThreads) {
  std::string m = report_mail({text_part(), gzip_part()});
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int k = 0; k < 20; ++k)
        if (auto r = extract_mail_report(m, Limits{}); r && gunzipped(r->attachment) == kReport) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
}

// ---- the Ingestor's mail path ----

TEST(IngestMail, MailIsUnwrappedParsedAndCarriesItsProvenance) {
  Ingestor ing;
  auto out = ing.ingest(report_mail({text_part(), gzip_part()}));
  ASSERT_TRUE(out) << out.error().text();
  EXPECT_EQ(out->parsed.report.report_id, "r-1");
  EXPECT_TRUE(out->was_gzip);
  ASSERT_TRUE(out->mail);
  EXPECT_EQ(out->mail->tls_report_domain, "example.net");
  EXPECT_EQ(out->mail->content_type, "application/tlsrpt+gzip");
  for (const auto& n : out->parsed.notes) EXPECT_FALSE(n.code.starts_with("mail-")) << n.code << ": " << n.detail;
  // The same report as bare JSON is the same content (dedupe across channels).
  auto bare = ing.ingest(kReport);
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->content_sha256, out->content_sha256);
  EXPECT_FALSE(bare->mail);
}

TEST(IngestMail, MailLargerThanASubmissionIsFine) {
  // A 3 MiB mail (a long text part) around a small report: the mail limit applies.
  Ingestor ing;
  auto out = ing.ingest(report_mail({text_part(std::string(3 * kMiB, 'x') + "\r\n"), gzip_part()}));
  ASSERT_TRUE(out) << out.error().text();
  EXPECT_EQ(out->parsed.report.report_id, "r-1");
  // A bare report is still held to max_submission_bytes.
  auto big = ing.ingest(std::string(3 * kMiB, ' ') + kReport);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().reason, RejectReason::too_large);
}

TEST(IngestMail, HeaderDisagreementsAreNotedNotRefused) {
  Ingestor ing;
  std::string top = "From: noreply@example.org\r\nSubject: Report\r\nMIME-Version: 1.0\r\n";
  auto out = ing.ingest(top + multipart("multipart/report; report-type=tlsrpt", {text_part(), gzip_part()}));
  ASSERT_TRUE(out) << out.error().text();
  EXPECT_TRUE(has_note(out->parsed.notes, note::kMailReportHeaderMissing));

  top = "From: noreply@example.org\r\nTLS-Report-Domain: other.example\r\nTLS-Report-Submitter: mail.example.org\r\n"
        "MIME-Version: 1.0\r\n";
  out = ing.ingest(top + multipart("multipart/report; report-type=tlsrpt", {text_part(), gzip_part()}));
  ASSERT_TRUE(out) << out.error().text();
  EXPECT_FALSE(has_note(out->parsed.notes, note::kMailReportHeaderMissing));
  EXPECT_TRUE(has_note(out->parsed.notes, note::kMailReportDomainMismatch));  // example.net in the body
  EXPECT_TRUE(has_note(out->parsed.notes, note::kMailSubmitterMismatch));     // contact-info @example.org
}

TEST(IngestMail, EmptyReportPart) {
  Ingestor ing;
  auto out = ing.ingest(report_mail({text_part(), part("Content-Type: application/tlsrpt+gzip\r\n", "")}));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().reason, RejectReason::empty);
}

TEST(IngestMail, RejectionsKeepTheirReason) {
  Ingestor ing;
  auto out = ing.ingest("From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n");
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().reason, RejectReason::not_a_report);
  // A JSON error keeps its field path.
  std::string bad = R"({"organization-name":"x","report-id":"y","policies":[]})";
  out = ing.ingest(report_mail({part("Content-Type: application/tlsrpt+json\r\n", bad)}));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().reason, RejectReason::missing_field) << out.error().text();
}

}  // namespace
}  // namespace tlsrpt
