// type = "webhook": an HTTPS POST per alert, either the alert's JSON or a
// Slack/Mattermost-compatible {"text": ...}. Deadlines on connect and transfer, no
// redirects followed, https only, and (SSRF, docs/guarantees.md#output-side) every address curl is
// about to connect to is checked at connect time: private, loopback, link-local and
// other special-purpose targets are refused unless allow_private is set. Because the
// check runs on the socket address itself, DNS rebinding between check and connect
// is impossible.
#pragma once

#include <chrono>
#include <string>

#include "alerts/sink.hpp"

namespace tlsrpt::alerts {

struct WebhookOptions {
  std::string url;             // https://...
  bool slack = false;          // format = "slack": {"text": ...}
  bool allow_private = false;  // allow loopback/private/link-local targets
  std::string ca_file;         // extra trust anchors ("" = system store)
  std::chrono::milliseconds timeout{10000};
  int attempts = 4;
};

class WebhookSink final : public Sink {
 public:
  explicit WebhookSink(WebhookOptions o);
  std::string describe() const override;
  std::expected<void, DeliveryError> deliver(const Alert& a, std::stop_token stop) override;
  int attempts() const override { return options_.attempts; }

 private:
  WebhookOptions options_;
};

// The request body: the alert JSON, or {"text": <render_chat>} with Slack's control
// characters (&, <, >) escaped and "@" mentions defused.
std::string webhook_body(const Alert& a, bool slack);
// "https://hooks.example.com/…": scheme and host only, so log lines never carry the
// secret path of a chat webhook.
std::string redact_url(const std::string& url);

}  // namespace tlsrpt::alerts
