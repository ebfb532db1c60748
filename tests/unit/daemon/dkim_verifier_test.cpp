// daemon/dkim_verifier.cpp: libopendkim verification with keys served by the
// injected TXT lookup. Messages are signed at test time by dkimpy with a key made
// for the test (tests/tools/dkim_tool.py); the lookup returns that key's TXT
// record, which is the verifier's input, not a fake network. Mails are this
// repository's own (tests/corpus); an extra run reads a real one of the external
// interop corpus (TLSRPT_CORPUS_DIR), skipped where it is absent.
#include "daemon/intake/dkim_verifier.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>

#include "dkim_test_keys.hpp"
#include "test_support.hpp"

namespace tlsrpt::daemon {
namespace {

namespace fs = std::filesystem;

using test_dkim::run_tool;
using test_dkim::trim_newlines;

// A report mail as Google sends it, CRLF.
std::string report_mail(std::string_view body = "the body\r\n") {
  return "From: noreply-smtp-tls-reporting@example.org\r\n"
         "To: tlsrpt@example.net\r\n"
         "Subject: Report Domain: example.net Submitter: example.org Report-ID: <1@example.org>\r\n"
         "Date: Mon, 16 Sep 2024 04:17:13 -0700\r\n"
         "Message-ID: <1@example.org>\r\n"
         "TLS-Report-Domain: example.net\r\n"
         "TLS-Report-Submitter: example.org\r\n"
         "MIME-Version: 1.0\r\n"
         "Content-Type: text/plain\r\n"
         "\r\n" +
         std::string(body);
}

class DkimVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    fs::create_directories(dir_->path() / "a");
    fs::create_directories(dir_->path() / "b");
    txt_a_ = new std::string(trim_newlines(run_tool("keygen " + (dir_->path() / "a").string(), "", dir_->path())));
    txt_b_ = new std::string(trim_newlines(run_tool("keygen " + (dir_->path() / "b").string(), "", dir_->path())));
  }
  static void TearDownTestSuite() {
    delete txt_a_;
    delete txt_b_;
    delete dir_;
  }

  static std::string sign(const std::string& msg, const std::string& selector = "sel", const std::string& domain = "example.org",
                          bool length = false, const char* key = "a") {
    return run_tool("sign " + (dir_->path() / key / "key.pem").string() + " " + selector + " " + domain +
                        (length ? " --length" : ""),
                    msg, dir_->path());
  }

  // A verifier whose lookup answers from `zone` and records every name asked.
  std::unique_ptr<DkimVerifier> verifier() {
    auto v = DkimVerifier::create([this](const std::string& name) -> std::expected<std::vector<std::string>, TxtLookupError> {
      asked_.push_back(name);
      auto it = zone_.find(name);
      if (it == zone_.end()) return std::unexpected(TxtLookupError{TxtLookupError::Kind::not_found, "NXDOMAIN"});
      return it->second;
    });
    EXPECT_TRUE(v) << (v ? "" : v.error());
    return std::move(*v);
  }

  void expect_resigned_passes_beside_stale_google_signature(const std::string& mail);

  static test::TempDir* dir_;
  static std::string* txt_a_;
  static std::string* txt_b_;
  std::map<std::string, std::expected<std::vector<std::string>, TxtLookupError>> zone_;
  std::vector<std::string> asked_;
};

test::TempDir* DkimVerifierTest::dir_ = nullptr;
std::string* DkimVerifierTest::txt_a_ = nullptr;
std::string* DkimVerifierTest::txt_b_ = nullptr;

TEST_F(DkimVerifierTest, ValidSignaturePassesWithDomainAndSelector) {
  zone_["sel._domainkey.example.org"] = std::vector<std::string>{*txt_a_};
  auto r = verifier()->verify(sign(report_mail()));
  EXPECT_EQ(r.status, DkimResult::Status::pass) << r.reason;
  EXPECT_EQ(r.domain, "example.org");
  EXPECT_EQ(r.selector, "sel");
  EXPECT_EQ(r.verifier, "opendkim");
  EXPECT_EQ(asked_, std::vector<std::string>{"sel._domainkey.example.org"});
}

TEST_F(DkimVerifierTest, UnsignedMailIsNone) {
  auto r = verifier()->verify(report_mail());
  EXPECT_EQ(r.status, DkimResult::Status::none) << r.reason;
  EXPECT_TRUE(asked_.empty());
}

TEST_F(DkimVerifierTest, ChangedBodyFails) {
  zone_["sel._domainkey.example.org"] = std::vector<std::string>{*txt_a_};
  std::string signed_mail = sign(report_mail("the body\r\n"));
  signed_mail.replace(signed_mail.find("the body"), 8, "THE BODY");
  auto r = verifier()->verify(signed_mail);
  EXPECT_EQ(r.status, DkimResult::Status::fail);
  EXPECT_NE(r.reason.find("body hash"), std::string::npos) << r.reason;
  EXPECT_EQ(r.domain, "example.org");
}

TEST_F(DkimVerifierTest, ChangedSignedHeaderFails) {
  zone_["sel._domainkey.example.org"] = std::vector<std::string>{*txt_a_};
  std::string signed_mail = sign(report_mail());
  signed_mail.replace(signed_mail.find("TLS-Report-Domain: example.net"), 30, "TLS-Report-Domain: example.com");
  auto r = verifier()->verify(signed_mail);
  EXPECT_EQ(r.status, DkimResult::Status::fail) << r.reason;
}

TEST_F(DkimVerifierTest, SignatureWithBodyLengthIsRefused) {
  // RFC 8460 §3: "DKIM signatures MUST NOT use the "l=" attribute".
  zone_["sel._domainkey.example.org"] = std::vector<std::string>{*txt_a_};
  std::string signed_mail = sign(report_mail(), "sel", "example.org", /*length=*/true);
  ASSERT_NE(signed_mail.find(" l="), std::string::npos);
  auto r = verifier()->verify(signed_mail);
  EXPECT_EQ(r.status, DkimResult::Status::fail);
  EXPECT_NE(r.reason.find("l="), std::string::npos) << r.reason;
}

TEST_F(DkimVerifierTest, ContentAppendedUnderBodyLengthIsRefusedToo) {
  zone_["sel._domainkey.example.org"] = std::vector<std::string>{*txt_a_};
  std::string signed_mail = sign(report_mail(), "sel", "example.org", /*length=*/true) + "appended by an attacker\r\n";
  auto r = verifier()->verify(signed_mail);
  EXPECT_EQ(r.status, DkimResult::Status::fail) << r.reason;
}

TEST_F(DkimVerifierTest, MissingKeyFails) {
  auto r = verifier()->verify(sign(report_mail()));
  EXPECT_EQ(r.status, DkimResult::Status::fail);
  EXPECT_NE(r.reason.find("sel._domainkey.example.org"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("NXDOMAIN"), std::string::npos) << r.reason;
}

TEST_F(DkimVerifierTest, TemporaryDnsFailureIsTemperror) {
  zone_["sel._domainkey.example.org"] = std::unexpected(TxtLookupError{TxtLookupError::Kind::temporary, "timeout after 5s"});
  auto r = verifier()->verify(sign(report_mail()));
  EXPECT_EQ(r.status, DkimResult::Status::temperror);
  EXPECT_NE(r.reason.find("timeout after 5s"), std::string::npos) << r.reason;
}

TEST_F(DkimVerifierTest, WrongKeyFails) {
  zone_["sel._domainkey.example.org"] = std::vector<std::string>{*txt_b_};
  auto r = verifier()->verify(sign(report_mail()));
  EXPECT_EQ(r.status, DkimResult::Status::fail) << r.reason;
}

TEST_F(DkimVerifierTest, RevokedKeyFails) {
  zone_["sel._domainkey.example.org"] = std::vector<std::string>{"v=DKIM1; k=rsa; p="};
  auto r = verifier()->verify(sign(report_mail()));
  EXPECT_EQ(r.status, DkimResult::Status::fail) << r.reason;
}

TEST_F(DkimVerifierTest, TxtRecordsThatAreNoKeyAreSkipped) {
  zone_["sel._domainkey.example.org"] = std::vector<std::string>{"google-site-verification=abc", *txt_a_};
  auto r = verifier()->verify(sign(report_mail()));
  EXPECT_EQ(r.status, DkimResult::Status::pass) << r.reason;
}

TEST_F(DkimVerifierTest, KeyForServiceTlsrptIsAccepted) {
  // RFC 8460 §3: the key record SHOULD say s=tlsrpt; libopendkim alone would refuse it.
  zone_["sel._domainkey.example.org"] = std::vector<std::string>{*txt_a_ + "; s=tlsrpt"};
  auto r = verifier()->verify(sign(report_mail()));
  EXPECT_EQ(r.status, DkimResult::Status::pass) << r.reason;
}

TEST_F(DkimVerifierTest, KeyForAnotherServiceOnlyFails) {
  zone_["sel._domainkey.example.org"] = std::vector<std::string>{*txt_a_ + "; s=other"};
  auto r = verifier()->verify(sign(report_mail()));
  EXPECT_EQ(r.status, DkimResult::Status::fail) << r.reason;
}

TEST_F(DkimVerifierTest, LfLineEndingsAndMboxFromLineVerify) {
  // A Maildir file or an mbox message: LF endings, maybe a "From " line first.
  zone_["sel._domainkey.example.org"] = std::vector<std::string>{*txt_a_};
  std::string signed_mail = sign(report_mail());
  std::string lf;
  for (char c : signed_mail)
    if (c != '\r') lf.push_back(c);
  auto v = verifier();
  EXPECT_EQ(v->verify(lf).status, DkimResult::Status::pass);
  EXPECT_EQ(v->verify("From MAILER-DAEMON Mon Sep 16 04:17:13 2024\n" + lf).status, DkimResult::Status::pass);
}

TEST_F(DkimVerifierTest, OneGoodSignatureAmongBadOnesPasses) {
  // A forwarder's broken signature on top of the sender's valid one.
  zone_["sel._domainkey.example.org"] = std::vector<std::string>{*txt_a_};
  zone_["fwd._domainkey.forwarder.example"] = std::vector<std::string>{*txt_a_};
  std::string twice = sign(sign(report_mail()), "fwd", "forwarder.example", false, "b");  // b: wrong key
  auto r = verifier()->verify(twice);
  EXPECT_EQ(r.status, DkimResult::Status::pass) << r.reason;
  EXPECT_EQ(r.domain, "example.org");
  EXPECT_EQ(asked_.size(), 2u);
}

TEST_F(DkimVerifierTest, TemporaryFailureOfOneKeyDoesNotHideAPass) {
  zone_["sel._domainkey.example.org"] = std::vector<std::string>{*txt_a_};
  zone_["fwd._domainkey.forwarder.example"] = std::unexpected(TxtLookupError{TxtLookupError::Kind::temporary, "SERVFAIL"});
  std::string twice = sign(sign(report_mail()), "fwd", "forwarder.example");
  auto r = verifier()->verify(twice);
  EXPECT_EQ(r.status, DkimResult::Status::pass) << r.reason;
}

// A Google report mail keeps Google's signature, which does not verify here (no key
// for it in the zone, or expired): it fails, ours added on top passes.
void DkimVerifierTest::expect_resigned_passes_beside_stale_google_signature(const std::string& mail) {
  zone_["sel._domainkey.example.org"] = std::vector<std::string>{*txt_a_};
  auto v = verifier();
  auto before = v->verify(mail);
  EXPECT_EQ(before.status, DkimResult::Status::fail) << before.reason;
  EXPECT_EQ(before.domain, "google.com");
  auto after = v->verify(sign(mail));
  EXPECT_EQ(after.status, DkimResult::Status::pass) << after.reason;
  EXPECT_EQ(after.domain, "example.org");
}

TEST_F(DkimVerifierTest, QuirkCorpusMailResignedPassesBesideItsStaleGoogleSignature) {
  // tests/corpus: a DKIM-Signature of Google's shape (d=google.com); its key is not in
  // the zone.
  expect_resigned_passes_beside_stale_google_signature(
      test::read_file(test::quirk_dir() / "google-multipart-gzip-base64.eml"));
}

TEST_F(DkimVerifierTest, InteropCorpusMailResignedPassesBesideItsStaleGoogleSignature) {
  TLSRPT_SKIP_WITHOUT_INTEROP_CORPUS();
  // A real Google mail of the external interop corpus: Google's real signature, expired
  // by now (x=).
  expect_resigned_passes_beside_stale_google_signature(test::read_file(test::corpus_dir() / "tlsrpt-rs-2.eml"));
}

TEST_F(DkimVerifierTest, LookupThatThrowsIsATemporaryFailure) {
  auto v = DkimVerifier::create([](const std::string&) -> std::expected<std::vector<std::string>, TxtLookupError> {
    throw std::runtime_error("resolver bug");
  });
  ASSERT_TRUE(v);
  auto r = (*v)->verify(sign(report_mail()));
  EXPECT_EQ(r.status, DkimResult::Status::temperror) << r.reason;
}

}  // namespace
}  // namespace tlsrpt::daemon
