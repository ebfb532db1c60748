#include "daemon/net/inspect_service.hpp"

#include <algorithm>

#include "daemon/metrics.hpp"
#include "parser/domain.hpp"
#include "parser/text.hpp"
#include "record/dns_resolver.hpp"
#include "record/record_inspect.hpp"

namespace tlsrpt::daemon {
using namespace tlsrpt::record;
namespace {

bool needs_dns(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/api/v1/inspect") return true;
  if (path != "/inspect") return false;
  for (const auto& [k, v] : parse_query(target.find('?') == std::string_view::npos ? "" : target.substr(target.find('?') + 1)))
    if (k == "domain" && !v.empty()) return true;
  return false;
}

SiteReply refusal(int status, std::string_view target, std::string_view message, std::chrono::seconds retry) {
  SiteReply r;
  r.status = status;
  const bool api = target.starts_with("/api/");
  r.content_type = api ? "application/json" : "text/plain; charset=utf-8";
  r.body = api ? std::string(R"({"error":")") + std::string(message) + "\"}" : std::string(message) + "\n";
  r.headers.emplace_back("Retry-After", std::to_string(std::max<long>(1, static_cast<long>(retry.count()))));
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace

InspectService::InspectService(InspectServiceOptions options)
    : options_(std::move(options)),
      limiter_(RateLimiter::Options{options_.per_minute, std::chrono::milliseconds(60'000), options_.max_clients}),
      pool_(4) {}

InspectService::~InspectService() { pool_.join(); }

bool InspectService::owns(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  return path == "/" || path == "/generate" || path == "/inspect" || path == kStylePath || path == "/api/v1/inspect";
}

std::string InspectService::client_for(std::string_view peer, std::string_view forwarded_for) const {
  // RFC 7239 / X-Forwarded-For: only a trusted proxy's word counts, and only its
  // last hop (what it saw); anything else is the client talking about itself.
  const std::string p(peer);
  if (forwarded_for.empty() ||
      std::find(options_.trusted_proxies.begin(), options_.trusted_proxies.end(), p) == options_.trusted_proxies.end())
    return p;
  auto comma = forwarded_for.rfind(',');
  std::string last(trim(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1), kWsp));
  return canonical_ip(last) ? *canonical_ip(last) : p;
}

SiteReply InspectService::handle(std::string_view method, std::string_view target, std::string_view client) {
  if (needs_dns(target)) {
    RateDecision d = limiter_.check(client, RateLimiter::Clock::now());
    if (!d.allowed) {
      metrics().inc("tlsrptd_inspect_requests_total", {{"result", "rate-limited"}});
      return refusal(429, target, "too many inspections from your address; try again later", d.retry_after);
    }
    if (in_flight_.fetch_add(1) >= options_.max_concurrent) {
      in_flight_.fetch_sub(1);
      metrics().inc("tlsrptd_inspect_requests_total", {{"result", "busy"}});
      return refusal(503, target, "too many inspections in progress; try again shortly", std::chrono::seconds(5));
    }
  }
  struct Done {
    std::atomic<std::size_t>* n;
    bool counted;
    ~Done() {
      if (counted) n->fetch_sub(1);
    }
  } done{&in_flight_, needs_dns(target)};
  SiteReply r = serve_inspect_site(method, target, [&](const std::string& domain) {
    ResolverOptions o;
    o.servers = options_.dns_servers;
    o.timeout = options_.dns_timeout;
    auto resolver = DnsResolver::create(o);
    if (!resolver) {
      InspectResult failed;
      failed.domain = domain;
      failed.name = "_smtp._tls." + domain;
      failed.status = DnsStatus::error;
      failed.detail = resolver.error();
      return failed;
    }
    return inspect_domain(**resolver, domain);
  });
  metrics().inc("tlsrptd_inspect_requests_total", {{"result", std::to_string(r.status)}});
  return r;
}

}  // namespace tlsrpt::daemon
