#include "daemon/protocol/http_handler.hpp"

#include <algorithm>

#include "parser/domain.hpp"
#include "parser/gunzip.hpp"
#include "parser/json_writer.hpp"
#include "parser/text.hpp"

namespace tlsrpt::daemon {
namespace {

bool gzip_encoding(std::string_view enc) { return enc == "gzip" || enc == "x-gzip"; }

}  // namespace

std::string media_type(std::string_view content_type) {
  return ascii_lower(trim(content_type.substr(0, content_type.find(';')), kWsp));
}

Route route_for(std::string_view target, const HttpPolicy& policy) {
  std::string_view path = target.substr(0, target.find('?'));
  // /healthz only on the admin listener: the public port says nothing about the store.
  if (policy.admin) return path == "/metrics" ? Route::metrics : path == "/healthz" ? Route::healthz : Route::unknown;
  if (path == policy.report_path) return Route::report;
  if (report_path_domain(target, policy)) return Route::report;
  return Route::unknown;
}

std::optional<std::string> report_path_domain(std::string_view target, const HttpPolicy& policy) {
  std::string_view path = target.substr(0, target.find('?'));
  const std::string& base = policy.report_path;
  if (path == base) return std::string();
  // Not under "/" itself: /metrics, /favicon.ico ... would pass for domains there.
  if (policy.admin || base.size() < 2 || !base.ends_with('/') || !path.starts_with(base)) return std::nullopt;
  std::string_view segment = path.substr(base.size());
  // A policy domain has two labels at least.
  if (segment.size() > 253 || segment.find('/') != std::string_view::npos || segment.find('.') == std::string_view::npos)
    return std::nullopt;
  auto domain = normalize_domain(segment);
  if (!domain || !is_valid_hostname(*domain)) return std::nullopt;
  return *domain;
}

HttpReply reply_for_outcome(Outcome outcome, const Error* error, const HttpPolicy& policy) {
  const Reply& r = reply_for(outcome);
  HttpReply out;
  out.status = r.http_status;
  out.outcome = outcome;
  JsonWriter w(out.body);
  w.begin_object();
  w.member("status", to_token(outcome));
  if (r.success()) {
    w.member("message", r.text);
  } else {
    w.member("error", error ? std::string_view(error->message) : r.text);
    if (error && !error->where.empty()) w.member("where", std::string_view(error->where));
    out.detail = error ? error->text() : std::string(r.text);
  }
  w.end_object();
  if (r.retry_later()) out.headers.emplace_back("Retry-After", std::to_string(policy.retry_after.count()));
  if (outcome == Outcome::method_not_allowed) out.headers.emplace_back("Allow", policy.admin ? "GET, HEAD" : "POST");
  return out;
}

std::optional<HttpReply> check_head(const HttpRequestHead& head, const HttpPolicy& policy) {
  const Route route = route_for(head.target, policy);
  if (route == Route::unknown) return reply_for_outcome(Outcome::not_found, nullptr, policy);
  if (route == Route::healthz || route == Route::metrics) {
    if (head.method != "GET" && head.method != "HEAD") {
      auto r = reply_for_outcome(Outcome::method_not_allowed, nullptr, policy);
      r.headers.back().second = "GET, HEAD";
      return r;
    }
    return std::nullopt;
  }
  // RFC 8460 §5.4: reports are POSTed.
  if (head.method != "POST") return reply_for_outcome(Outcome::method_not_allowed, nullptr, policy);
  // Decided from Content-Length before a byte of the body is read.
  if (head.content_length && *head.content_length > policy.limits.max_submission_bytes) {
    Error e{RejectReason::too_large, "",
            "body of " + std::to_string(*head.content_length) + " bytes is larger than the limit of " +
                std::to_string(policy.limits.max_submission_bytes)};
    auto r = reply_for_outcome(Outcome::too_large, &e, policy);
    r.close = true;
    return r;
  }
  // RFC 8460 §5.4 names application/tlsrpt+gzip and application/tlsrpt+json; real
  // senders also use these, and the content decides what it is.
  static constexpr std::string_view kAccepted[] = {"",
                                                   "application/tlsrpt+gzip",
                                                   "application/tlsrpt+json",
                                                   "application/json",
                                                   "application/gzip",
                                                   "application/x-gzip",
                                                   "application/octet-stream"};
  const std::string mt = media_type(head.content_type);
  if (std::find(std::begin(kAccepted), std::end(kAccepted), mt) == std::end(kAccepted)) {
    Error e{RejectReason::unsupported, "", "unsupported content type \"" + mt.substr(0, 64) +
                                               "\" (use application/tlsrpt+gzip or application/tlsrpt+json)"};
    return reply_for_outcome(Outcome::unsupported_media, &e, policy);
  }
  const std::string enc = ascii_lower(trim(head.content_encoding, kWsp));
  if (!enc.empty() && enc != "identity" && !gzip_encoding(enc)) {
    Error e{RejectReason::unsupported, "", "unsupported content encoding \"" + enc.substr(0, 64) + "\" (use gzip)"};
    return reply_for_outcome(Outcome::unsupported_media, &e, policy);
  }
  return std::nullopt;
}

std::expected<std::optional<std::vector<char>>, HttpReply> decode_content(const HttpRequestHead& head,
                                                                         std::string_view body,
                                                                         const HttpPolicy& policy) {
  if (!gzip_encoding(ascii_lower(trim(head.content_encoding, kWsp)))) return std::nullopt;
  // Content-Encoding: gzip is undone first; the content itself may be
  // application/tlsrpt+gzip again (one more gzip layer, which ingest handles).
  std::vector<char> decoded;
  auto r = gunzip(body, decoded, policy.limits);
  if (!r) {
    Error e = r.error();
    e.message = "content-encoding gzip: " + e.message;
    return std::unexpected(reply_for_outcome(outcome_for(e.reason), &e, policy));
  }
  return decoded;
}

}  // namespace tlsrpt::daemon
