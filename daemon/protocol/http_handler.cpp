#include "daemon/protocol/http_handler.hpp"

#include <algorithm>

#include "daemon/protocol/report_checks.hpp"
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
  if (path == "/healthz") return Route::healthz;
  if (policy.admin) return path == "/metrics" ? Route::metrics : Route::unknown;
  if (path == policy.report_path) return Route::report;
  return Route::unknown;
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

bool serves_report(const Report& report, const std::vector<std::string>& domains) {
  if (domains.empty()) return true;
  for (const auto& p : report.policies) {
    const std::string& d = p.policy.domain;
    for (const auto& served : domains) {
      if (d == served) return true;
      if (d.size() > served.size() && d.ends_with(served) && d[d.size() - served.size() - 1] == '.') return true;
    }
  }
  return false;
}

std::expected<AcceptedReport, HttpReply> accept_body(const HttpRequestHead& head, std::string body,
                                                     Ingestor& ingestor, const HttpPolicy& policy,
                                                     std::chrono::sys_seconds now) {
  std::string_view payload = body;
  std::vector<char> decoded;
  if (gzip_encoding(ascii_lower(trim(head.content_encoding, kWsp)))) {
    // Content-Encoding: gzip is undone first; the content itself may be
    // application/tlsrpt+gzip again (one more gzip layer, which ingest handles).
    auto r = gunzip(body, decoded, policy.limits);
    if (!r) {
      Error e = r.error();
      e.message = "content-encoding gzip: " + e.message;
      return std::unexpected(reply_for_outcome(outcome_for(e.reason), &e, policy));
    }
    payload = std::string_view(decoded.data(), decoded.size());
  }
  auto ing = ingestor.ingest(payload);
  if (!ing) {
    return std::unexpected(reply_for_outcome(outcome_for(ing.error().reason), &ing.error(), policy));
  }
  if (auto e = check_received(ing->parsed.report, now))
    return std::unexpected(reply_for_outcome(outcome_for(e->reason), &*e, policy));
  if (!serves_report(ing->parsed.report, policy.domains)) {
    Error e{RejectReason::invalid_value, "policies", "no policy in this report is for a domain served here"};
    return std::unexpected(reply_for_outcome(Outcome::no_policy_for_domain, &e, policy));
  }
  return AcceptedReport{std::move(*ing), std::move(body)};
}

}  // namespace tlsrpt::daemon
