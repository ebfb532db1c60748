#include "alerts/sinks/webhook_sink.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include "alerts/address_policy.hpp"
#include "alerts/render.hpp"
#include "alerts/sinks/curl_easy.hpp"
#include "parser/json_writer.hpp"

namespace tlsrpt::alerts {
namespace {

struct ConnectGuard {
  bool allow_private = false;
  std::string refused;  // why the last refused address was refused
};

// CURLOPT_OPENSOCKETFUNCTION: called with the exact address curl will connect to.
curl_socket_t open_checked(void* clientp, curlsocktype purpose, curl_sockaddr* address) {
  auto* guard = static_cast<ConnectGuard*>(clientp);
  if (purpose == CURLSOCKTYPE_IPCXN && !guard->allow_private) {
    if (auto why = forbidden_address(&address->addr)) {
      guard->refused = *why;
      return CURL_SOCKET_BAD;
    }
  }
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

// Slack mrkdwn: &, < and > are control characters (<!channel>, <http://x|label>); an
// "@" followed by a word is a mention in Mattermost. Report text must trigger neither.
std::string chat_safe(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '@': out += "@\xE2\x80\x8B"; break;  // U+200B after @: shown the same, never a mention
      default: out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string webhook_body(const Alert& a, bool slack) {
  if (!slack) return to_json(a);
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.member("text", std::string_view(chat_safe(render_chat(a))));
  w.end_object();
  return out;
}

std::string redact_url(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return "(invalid url)";
  auto path = url.find('/', scheme + 3);
  if (path == std::string::npos) return url;
  return url.substr(0, path) + (path + 1 < url.size() ? "/\xE2\x80\xA6" : "/");
}

WebhookSink::WebhookSink(WebhookOptions o) : options_(std::move(o)) { curl_global(); }

std::string WebhookSink::describe() const { return "webhook " + redact_url(options_.url); }

std::expected<void, DeliveryError> WebhookSink::deliver(const Alert& a, std::stop_token stop) {
  CurlEasy h;
  if (!h) return std::unexpected(DeliveryError{"cannot create a curl handle", true});
  const std::string body = webhook_body(a, options_.slack);
  CurlSlist headers;
  if (!headers.append("Content-Type: application/json") || !headers.append("User-Agent: tlsrptd/0.1") ||
      !headers.append("Expect:"))
    return std::unexpected(DeliveryError{"out of memory", true});
  ConnectGuard guard{options_.allow_private, {}};
  char errbuf[CURL_ERROR_SIZE];
  CURL* c = h.get();
  curl_common(c, options_.timeout, options_.ca_file, &stop, errbuf);
  curl_easy_setopt(c, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // RFC 8461 §3.3's rule, applied here too
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, &open_checked);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &guard);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &discard);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    if (!guard.refused.empty())
      return std::unexpected(DeliveryError{"refused to connect: " + guard.refused +
                                               " (set allow_private = true to allow private targets)",
                                           false});
    return std::unexpected(curl_error(rc, errbuf));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300) return {};
  if (status >= 300 && status < 400)
    return std::unexpected(DeliveryError{"answered HTTP " + std::to_string(status) + "; redirects are not followed",
                                         false});
  bool retryable = status == 408 || status == 429 || status >= 500;
  return std::unexpected(DeliveryError{"answered HTTP " + std::to_string(status), retryable});
}

}  // namespace tlsrpt::alerts
