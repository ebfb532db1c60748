// The webhook's request body and what its log lines show of the URL (the HTTPS
// delivery, refusal of private targets and redirects are tested end to end).
#include "alerts/sinks/webhook_sink.hpp"

#include <gtest/gtest.h>

#include "alerts/sinks/log_sink.hpp"

namespace tlsrpt::alerts {
namespace {

Alert alert() {
  Alert a;
  a.kind = std::string(kStarttlsFailure);
  a.severity = Severity::critical;
  a.policy_domain = "example.com";
  a.policy_type = "sts";
  a.day = "2024-05-04";
  a.summary = "STARTTLS failure \xE2\x80\x94 mx1.example.com did not offer STARTTLS (3 failed sessions)";
  a.explanation = "Check it.";
  a.evidence.reporters = {"<!channel> @here & \"co\"\n"};
  a.evidence.sources = "authenticated";
  return a;
}

TEST(WebhookSink, JsonBodyIsTheAlertJson) {
  EXPECT_EQ(webhook_body(alert(), false), to_json(alert()));
  EXPECT_NE(to_json(alert()).find(R"("reporters":["<!channel> @here & \"co\"\n"])"), std::string::npos);
}

TEST(WebhookSink, SlackTextDefusesMentionsAndControlSequences) {
  std::string body = webhook_body(alert(), true);
  ASSERT_TRUE(body.starts_with(R"({"text":"[tlsrptd] critical: example.com: STARTTLS failure)"));
  EXPECT_EQ(body.find("<!channel>"), std::string::npos);
  EXPECT_NE(body.find("&lt;!channel&gt; @\xE2\x80\x8Bhere &amp; \\\"co\\\"\\\\n"), std::string::npos);
}

TEST(WebhookSink, LogsNeverShowTheSecretPath) {
  EXPECT_EQ(redact_url("https://hooks.slack.com/services/T000/B000/XXXX"), "https://hooks.slack.com/\xE2\x80\xA6");
  EXPECT_EQ(redact_url("https://127.0.0.1:8443"), "https://127.0.0.1:8443");
  WebhookSink s(WebhookOptions{"https://chat.example/hooks/secret", false, false, "", std::chrono::seconds(1), 1});
  EXPECT_EQ(s.describe().find("secret"), std::string::npos);
}

TEST(LogSink, OneEscapedLine) {
  Alert a = alert();
  a.policy_domain = "evil\nexample.com";
  a.summary = "x\x1b[2Jy";
  a.id = 7;
  a.evidence.reporters = {"Org\xE2\x80\xAE (signed by org.example)", "Other\nInc."};
  EXPECT_EQ(log_line(a),
            "alert critical starttls-failure evil\\nexample.com sts day=2024-05-04 (new) id=7: x\\x1b[2Jy "
            "[reported by: Org\\u202e (signed by org.example), Other\\nInc.]");
}

}  // namespace
}  // namespace tlsrpt::alerts
