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

constexpr std::string_view kBusy = "too many inspections in progress; try again shortly";

// Every live service, for drain_all().
std::mutex live_mu;
std::vector<InspectService*> live;

void publish_counts(const InspectAdmission& a) {
  metrics().set("tlsrptd_inspect_running", {}, static_cast<double>(a.running()));
  metrics().set("tlsrptd_inspect_queued", {}, static_cast<double>(a.queued()));
}

}  // namespace

InspectAdmission::Ticket& InspectAdmission::Ticket::operator=(Ticket&& o) noexcept {
  if (this != &o) {
    release();
    owner_ = std::exchange(o.owner_, nullptr);
    running_ = o.running_;
  }
  return *this;
}

bool InspectAdmission::Ticket::start() {
  if (!owner_ || running_) return running_;
  std::lock_guard lock(owner_->mu_);
  if (owner_->running_ >= owner_->limits_.max_running) return false;
  --owner_->queued_;
  owner_->peak_running_ = std::max(owner_->peak_running_, ++owner_->running_);
  running_ = true;
  return true;
}

void InspectAdmission::Ticket::release() {
  if (!owner_) return;
  std::lock_guard lock(owner_->mu_);
  --(running_ ? owner_->running_ : owner_->queued_);
  owner_ = nullptr;
}

std::optional<InspectAdmission::Ticket> InspectAdmission::enter() {
  std::lock_guard lock(mu_);
  if (running_ + queued_ >= limits_.max_running + limits_.max_queued) return std::nullopt;
  ++queued_;
  return Ticket(this);
}

std::size_t InspectAdmission::running() const {
  std::lock_guard lock(mu_);
  return running_;
}
std::size_t InspectAdmission::queued() const {
  std::lock_guard lock(mu_);
  return queued_;
}
std::size_t InspectAdmission::peak_running() const {
  std::lock_guard lock(mu_);
  return peak_running_;
}

InspectService::InspectService(InspectServiceOptions options)
    : options_(std::move(options)),
      limiter_(RateLimiter::Options{options_.per_minute, std::chrono::milliseconds(60'000), options_.max_clients}),
      admission_(InspectAdmission::Limits{options_.max_concurrent, options_.max_queued}),
      pool_(options_.max_concurrent) {
  std::lock_guard lock(live_mu);
  live.push_back(this);
}

InspectService::~InspectService() {
  {
    std::lock_guard lock(live_mu);
    std::erase(live, this);
  }
  drain();
}

void InspectService::drain() {
  stopping_ = true;
  pool_.join();
}

void InspectService::stop_all() {
  std::lock_guard lock(live_mu);
  for (auto* s : live) s->stopping_ = true;
}

void InspectService::drain_all() {
  std::lock_guard lock(live_mu);
  for (auto* s : live) s->stopping_ = true;  // every pool's DNS ends at once, then each is joined
  for (auto* s : live) s->drain();
}

bool InspectService::owns(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  return path == "/" || path == "/generate" || path == "/inspect" || path == kStylePath || path == "/api/v1/inspect";
}

std::string InspectService::client_for(std::string_view peer, std::string_view forwarded_for) const {
  // RFC 7239 / X-Forwarded-For: only a trusted proxy's word counts, and only its
  // last hop (what it saw); anything else is the client talking about itself. The
  // peer is compared in canonical form (::ffff:127.0.0.1 is 127.0.0.1; networks match).
  const std::string p(peer);
  if (forwarded_for.empty() || !address_in(options_.trusted_proxies, p)) return p;
  auto comma = forwarded_for.rfind(',');
  std::string last(trim(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1), kWsp));
  return canonical_ip(last) ? *canonical_ip(last) : p;
}

std::variant<SiteReply, PendingInspection> InspectService::begin(std::string_view method, std::string_view target,
                                                                  std::string_view client) {
  if (needs_dns(target)) {
    RateDecision d = limiter_.check(client, RateLimiter::Clock::now());
    if (!d.allowed) {
      metrics().inc("tlsrptd_inspect_requests_total", {{"result", "rate-limited"}});
      return refusal(429, target, "too many inspections from your address; try again later", d.retry_after);
    }
  }
  SitePlan plan = plan_inspect_site(method, target, SiteOptions{options_.allow_private_names});
  if (plan.reply) {
    if (needs_dns(target)) metrics().inc("tlsrptd_inspect_requests_total", {{"result", std::to_string(plan.reply->status)}});
    return std::move(*plan.reply);
  }
  // Admission before anything is queued: beyond max_concurrent + max_queued, 503 now.
  auto ticket = admission_.enter();
  if (!ticket || stopping_) {
    metrics().inc("tlsrptd_inspect_requests_total", {{"result", "busy"}});
    return refusal(503, target, kBusy, std::chrono::seconds(5));
  }
  publish_counts(admission_);
  return PendingInspection{std::move(plan), std::move(*ticket), std::chrono::steady_clock::now() + options_.timeout};
}

SiteReply InspectService::run(PendingInspection& p) {
  struct Done {  // the next one may start as soon as this one has its reply
    PendingInspection& p;
    const InspectAdmission& a;
    ~Done() {
      p.ticket = {};
      publish_counts(a);
    }
  } done{p, admission_};
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(p.deadline - std::chrono::steady_clock::now());
  // Waited past its deadline in the queue, or the daemon is stopping: no DNS.
  if (left < std::chrono::milliseconds(500) || stopping_ || !p.ticket.start()) {
    metrics().inc("tlsrptd_inspect_requests_total", {{"result", "expired"}});
    return refusal(503, p.plan.api ? "/api/" : "/", kBusy, std::chrono::seconds(5));
  }
  publish_counts(admission_);
  InspectResult result;
  ResolverOptions o;
  o.servers = options_.dns_servers;
  o.timeout = options_.dns_timeout;
  if (auto resolver = DnsResolver::create(o)) {
    (*resolver)->cancel_when(&stopping_);
    result = inspect_domain(**resolver, p.plan.domain, left, /*public_names_only=*/!options_.allow_private_names);
  } else {
    result.domain = p.plan.domain;
    result.name = "_smtp._tls." + p.plan.domain;
    result.status = DnsStatus::error;
    result.detail = resolver.error();
  }
  SiteReply r = finish_inspect_site(p.plan, result);
  metrics().inc("tlsrptd_inspect_requests_total", {{"result", std::to_string(r.status)}});
  return r;
}

}  // namespace tlsrpt::daemon
