// parser/auth_results.cpp: RFC 8601 Authentication-Results parsing and the DKIM
// verdict of trusted authserv-ids, on hand-written values and on the headers of the
// report mails of tests/corpus; an extra run reads those of the real mails of the
// external interop corpus (TLSRPT_CORPUS_DIR), skipped where it is absent.
#include "parser/auth_results.hpp"

#include <gtest/gtest.h>

#include <span>

#include "parser/mail.hpp"
#include "test_support.hpp"

namespace tlsrpt {
namespace {

using Status = DkimResult::Status;

TEST(AuthResults, ParsesMethodsResultsAndProperties) {
  auto ar = parse_auth_results(
      " mx.google.com;\r\n       dkim=pass header.i=@google.com header.s=20230601 header.b=abc+/=;\r\n"
      "       spf=pass (google.com: domain of x@y designates 1.2.3.4 as permitted sender) smtp.mailfrom=y;\r\n"
      "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=google.com");
  ASSERT_TRUE(ar) << ar.error().text();
  EXPECT_EQ(ar->authserv_id, "mx.google.com");
  ASSERT_EQ(ar->entries.size(), 3u);
  EXPECT_EQ(ar->entries[0].method, "dkim");
  EXPECT_EQ(ar->entries[0].result, "pass");
  EXPECT_EQ(ar->entries[0].property("header.i"), "@google.com");
  EXPECT_EQ(ar->entries[0].property("header.s"), "20230601");
  EXPECT_EQ(ar->entries[0].property("header.b"), "abc+/=");  // base64 padding kept
  EXPECT_EQ(ar->entries[1].method, "spf");
  EXPECT_EQ(ar->entries[1].property("smtp.mailfrom"), "y");
  EXPECT_EQ(ar->entries[2].method, "dmarc");
  EXPECT_EQ(ar->entries[2].property("header.from"), "google.com");
}

TEST(AuthResults, CommentsQuotesVersionAndSpacesAroundEquals) {
  // A ';' inside a comment or a quoted string does not end the clause.
  auto ar = parse_auth_results(
      "example.net 1 (version; one); (a (nested; comment) \\) here) DKIM/1 = Pass (good; sig) "
      "reason=\"all ; fine\" Header.D=\"example.org\"; spf=none");
  ASSERT_TRUE(ar) << ar.error().text();
  EXPECT_EQ(ar->authserv_id, "example.net");
  ASSERT_EQ(ar->entries.size(), 2u);
  EXPECT_EQ(ar->entries[0].method, "dkim");
  EXPECT_EQ(ar->entries[0].result, "pass");
  EXPECT_EQ(ar->entries[0].reason, "all ; fine");
  EXPECT_EQ(ar->entries[0].property("header.d"), "example.org");
  EXPECT_EQ(ar->entries[1].method, "spf");
  EXPECT_EQ(ar->entries[1].result, "none");
}

TEST(AuthResults, NoResultAndQuotedAuthservId) {
  auto ar = parse_auth_results("\"mx.example.net\"; none");
  ASSERT_TRUE(ar) << ar.error().text();
  EXPECT_EQ(ar->authserv_id, "mx.example.net");
  EXPECT_TRUE(ar->entries.empty());
}

TEST(AuthResults, MissingAuthservIdIsAnError) {
  for (std::string_view v : {"", "   ", "(only a comment)", "; dkim=pass", "=pass"}) {
    auto ar = parse_auth_results(v);
    ASSERT_FALSE(ar) << "accepted: " << v;
    EXPECT_EQ(ar.error().reason, RejectReason::invalid_value);
  }
}

TEST(AuthResults, MalformedClausesAreSkipped) {
  auto ar = parse_auth_results("mx.example.net; garbage without equals; dkim=fail header.d=example.org");
  ASSERT_TRUE(ar);
  ASSERT_EQ(ar->entries.size(), 1u);
  EXPECT_EQ(ar->entries[0].result, "fail");
}

TEST(DkimTags, FoldedValuesAndOrder) {
  auto tags = parse_dkim_tags(" v=1; a=rsa-sha256; d=example.org; s=sel;\r\n\tl=120; b=ab\r\n cd\r\n ef=;");
  ASSERT_EQ(tags.size(), 6u);
  EXPECT_EQ(tags[2], (std::pair<std::string, std::string>{"d", "example.org"}));
  EXPECT_EQ(tags[4], (std::pair<std::string, std::string>{"l", "120"}));
  EXPECT_EQ(tags[5], (std::pair<std::string, std::string>{"b", "abcdef="}));
}

const std::vector<std::string> kTrusted = {"MX.Example.NET"};

TEST(DkimFromAuthResults, UntrustedHeadersGiveNoVerdict) {
  auto r = dkim_from_auth_results({"evil.example; dkim=pass header.d=example.org"}, kTrusted);
  EXPECT_FALSE(r);
  EXPECT_FALSE(dkim_from_auth_results({}, kTrusted));
  EXPECT_FALSE(dkim_from_auth_results({"mx.example.net; dkim=pass header.d=example.org"}, {}));
}

TEST(DkimFromAuthResults, TrustedPassCaseInsensitiveId) {
  auto r = dkim_from_auth_results({"evil.example; dkim=fail header.d=example.org",
                                   "mx.example.net; dkim=pass header.d=Example.ORG header.s=sel"},
                                  kTrusted);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, Status::pass);
  EXPECT_EQ(r->domain, "example.org");
  EXPECT_EQ(r->selector, "sel");
  EXPECT_EQ(r->verifier, "mx.example.net");
}

TEST(DkimFromAuthResults, DomainFromHeaderIWhenNoHeaderD) {
  auto r = dkim_from_auth_results({"mx.example.net; dkim=pass header.i=@mail.example.org"}, kTrusted);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, Status::pass);
  EXPECT_EQ(r->domain, "mail.example.org");
}

TEST(DkimFromAuthResults, OnePassAmongFailuresIsAPass) {
  auto r = dkim_from_auth_results(
      {"mx.example.net; dkim=fail header.d=forwarder.example; dkim=pass header.d=example.org"}, kTrusted);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, Status::pass);
  EXPECT_EQ(r->domain, "example.org");
}

TEST(DkimFromAuthResults, FailNeutralPermerrorAreFail) {
  for (std::string_view res : {"fail", "neutral", "permerror", "policy"}) {
    auto r = dkim_from_auth_results({"mx.example.net; dkim=" + std::string(res) + " reason=\"bad\" header.d=example.org"},
                                    kTrusted);
    ASSERT_TRUE(r) << res;
    EXPECT_EQ(r->status, Status::fail) << res;
    EXPECT_NE(r->reason.find("dkim=" + std::string(res)), std::string::npos) << r->reason;
    EXPECT_NE(r->reason.find("bad"), std::string::npos) << r->reason;
  }
}

TEST(DkimFromAuthResults, TemperrorWinsOverFail) {
  auto r = dkim_from_auth_results(
      {"mx.example.net; dkim=fail header.d=a.example; dkim=temperror header.d=example.org"}, kTrusted);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, Status::temperror);
}

TEST(DkimFromAuthResults, TrustedHeaderWithoutDkimIsNone) {
  auto r = dkim_from_auth_results({"mx.example.net; spf=pass smtp.mailfrom=example.org", "mx.example.net; none"}, kTrusted);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, Status::none);
  EXPECT_EQ(r->verifier, "mx.example.net");
}

TEST(DkimFromAuthResults, PassOfASignatureWithBodyLengthIsRefused) {
  // RFC 8460 §3: no l=. The A-R header cannot say; the DKIM-Signature can.
  const std::vector<std::string> sigs = {
      "v=1; a=rsa-sha256; d=other.example; s=x; l=10; b=zzzz",
      "v=1; a=rsa-sha256; d=example.org; s=sel; l=120; bh=x; b=AbCdEfGh\r\n IjKl"};
  auto r = dkim_from_auth_results({"mx.example.net; dkim=pass header.d=example.org header.s=sel header.b=AbCdEfGh"},
                                  kTrusted, sigs);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, Status::fail);
  EXPECT_NE(r->reason.find("l="), std::string::npos) << r->reason;

  // The same pass, but the matching signature has no l=: the other one does not matter.
  const std::vector<std::string> clean = {"v=1; a=rsa-sha256; d=other.example; s=x; l=10; b=zzzz",
                                          "v=1; a=rsa-sha256; d=example.org; s=sel; bh=x; b=AbCdEfGhIjKl"};
  r = dkim_from_auth_results({"mx.example.net; dkim=pass header.d=example.org header.s=sel header.b=AbCdEfGh"},
                             kTrusted, clean);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, Status::pass) << r->reason;
}

TEST(DkimFromAuthResults, VerdictInTheLastOfSeveralHeadersOfOneMta) {
  // Fastmail's shape (real mails of the external interop corpus), as unfolded by the
  // mail parser: one receiving MTA writes a header per group of methods, the DKIM
  // verdict last, with properties of its own (x-bits); the dkim comment holding ';'
  // is OpenDKIM's, as Postfix hosts write it.
  const std::vector<std::string> headers = {
      "mail.example.com; x-csa=none; x-me-sender=none; x-ptr=pass smtp.helo=mail-ot1-f71.google.com "
      "policy.ptr=mail-ot1-f71.google.com",
      "mail.example.com; bimi=none (No BIMI records found)",
      "mail.example.com; arc=none (no signatures found)",
      "mail.example.com; dkim=pass (2048-bit key; unprotected) header.d=google.com header.i=@google.com "
      "header.b=hpRPacZ3 header.a=rsa-sha256 header.s=20251104 x-bits=2048; dmarc=pass "
      "policy.published-domain-policy=reject (p=reject,d=none,d.eval=none) policy.policy-from=p header.from=google.com"};
  auto r = dkim_from_auth_results(headers, {"mail.example.com"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, Status::pass) << r->reason;
  EXPECT_EQ(r->domain, "google.com");
  EXPECT_EQ(r->selector, "20251104");
  EXPECT_EQ(r->verifier, "mail.example.com");
  EXPECT_FALSE(dkim_from_auth_results(headers, {"someone.else.example"}));
}

// Real headers: each mail's own receiving MTA, trusted by its authserv-id.
struct CorpusCase {
  const char* file;
  const char* authserv_id;
  Status status;
  const char* domain;
};

void check_mails(const std::filesystem::path& dir, std::span<const CorpusCase> cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    auto mail = extract_mail_report(test::read_file(dir / c.file), Limits{});
    ASSERT_TRUE(mail) << mail.error().text();
    const auto& p = mail->provenance;
    auto r = dkim_from_auth_results(p.authentication_results, {c.authserv_id}, p.dkim_signatures);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << r->reason;
    EXPECT_EQ(r->domain, c.domain);
    // Not trusted: no verdict, whatever the header says.
    EXPECT_FALSE(dkim_from_auth_results(p.authentication_results, {"someone.else.example"}, p.dkim_signatures));
  }
}

// The tests/corpus mails that carry their receiving MTA's Authentication-Results: a
// Google mail (continuation lines indented by spaces) and a Microsoft one in mox's
// shape (indented by tabs; iprev, spf and dmarc around the dkim clause).
TEST(DkimFromAuthResults, QuirkCorpusMails) {
  const CorpusCase cases[] = {
      {"google-multipart-gzip-base64.eml", "mx.example.org", Status::pass, "google.com"},
      {"microsoft-filename-only-in-disposition.eml", "mail.example.com", Status::pass, "microsoft.com"},
  };
  check_mails(test::quirk_dir(), cases);
}

// The real mails of the external interop corpus, as their receiving MTAs wrote them:
// Postfix with a comment holding ';', Fastmail with ARC-Authentication-Results and the
// verdict spread over several headers, mox.
TEST(DkimFromAuthResults, InteropCorpusMails) {
  TLSRPT_SKIP_WITHOUT_INTEROP_CORPUS();
  const CorpusCase cases[] = {
      {"unattributed-1.eml", "agrajag.blogreen.org", Status::pass, "google.com"},
      {"mail-tls-rpt-1.eml", "mx6.messagingengine.com", Status::pass, "google.com"},
      {"mox-1.eml", "komijn.test.xmox.nl", Status::pass, "google.com"},
      {"mox-2.eml", "komijn.test.xmox.nl", Status::pass, "microsoft.com"},
      {"tlsrpt-digest-1.eml", "mail.example.com", Status::pass, "google.com"},
  };
  check_mails(test::corpus_dir(), cases);
}

}  // namespace
}  // namespace tlsrpt
