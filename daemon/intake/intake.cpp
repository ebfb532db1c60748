#include "daemon/intake/intake.hpp"

#include "daemon/log.hpp"
#include "daemon/metrics.hpp"
#include "daemon/protocol/report_checks.hpp"
#include "parser/auth_results.hpp"
#include "parser/domain.hpp"
#include "parser/footprint.hpp"
#include "parser/notes.hpp"
#include "parser/org_domain.hpp"
#include "parser/well_known_reporters.hpp"
#include "record/dns_resolver.hpp"

#include <algorithm>
#include <mutex>
#include <unordered_map>

namespace tlsrpt::daemon {
using record::DnsResolver;
using record::DnsStatus;
using record::ResolverOptions;
namespace {

// Every rules object gets its own number: a thread's parser is rebuilt when the
// number changes. (Not the address: a new rules object may be allocated where a
// freed one was, and would then be parsed with the old limits.)
std::atomic<std::uint64_t> g_rules_generation{0};
thread_local std::unique_ptr<Ingestor> t_ingestor;
thread_local std::uint64_t t_ingestor_generation = 0;

// One parser (its buffers) per thread, rebuilt when the rules change.
Ingestor& ingestor_for(const Intake::Rules& rules) {
  if (!t_ingestor || t_ingestor_generation != rules.generation) {
    t_ingestor = std::make_unique<Ingestor>(rules.rules.limits);
    t_ingestor_generation = rules.generation;
  }
  return *t_ingestor;
}

bool is_mail_channel(Transport t) { return t == Transport::smtp || t == Transport::lmtp || t == Transport::maildir; }

std::string describe(const DkimResult& r) {
  std::string s = "dkim " + std::string(to_token(r.status));
  if (!r.domain.empty()) s += " d=" + r.domain;
  if (!r.reason.empty()) s += " (" + r.reason + ")";
  if (!r.verifier.empty() && r.verifier != "opendkim") s += " by " + r.verifier;
  return s;
}

// What is stored with the report about how it came and who vouched for it.
Provenance provenance_of(const Submission& s, bool authenticated, std::string method, std::string signer) {
  Provenance p;
  p.transport = s.transport;
  p.source = s.source;
  p.media_type = s.media_type;
  p.received_at = s.received_at;
  p.authenticated = authenticated;
  p.auth_method = std::move(method);
  p.signing_domain = std::move(signer);
  return p;
}

IntakeDecision refuse(Outcome outcome, Error error) {
  IntakeDecision d;
  d.kind = IntakeDecision::Kind::reject;
  d.outcome = outcome;
  d.detail = error.text();
  d.error = std::move(error);
  return d;
}

}  // namespace

std::expected<IntakeRules, std::string> intake_rules(const Config& cfg) {
  IntakeRules r;
  auto verifier = DkimVerifier::create(make_txt_lookup(cfg.dns.servers, cfg.dns.timeout));
  if (!verifier) return std::unexpected("dkim: " + verifier.error());
  r.verifier = std::move(*verifier);
  r.limits = cfg.limits;
  for (const auto& d : cfg.domains) r.domains.push_back(normalize_domain(d).value_or(ascii_lower(d)));
  r.dkim = cfg.smtp.dkim;
  r.trusted_authserv_ids = cfg.smtp.trusted_authserv_ids;
  return r;
}

bool is_served(std::string_view d, const std::vector<std::string>& domains) {
  if (domains.empty()) return true;
  for (const auto& served : domains) {
    if (d == served) return true;
    if (d.size() > served.size() && d.ends_with(served) && d[d.size() - served.size() - 1] == '.') return true;
  }
  return false;
}

std::size_t attribute_domainless(Ingested& report, std::string_view attribute_to) {
  // For a domain not served too: the next step then leaves the policy out of the
  // counts, since the sender said whose it is.
  if (attribute_to.empty()) return 0;
  std::size_t n = 0;
  auto& policies = report.parsed.report.policies;
  for (std::size_t i = 0; i < policies.size(); ++i) {
    if (!policies[i].policy.domain.empty()) continue;
    policies[i].policy.domain = std::string(attribute_to);
    report.attributed.push_back(static_cast<std::uint32_t>(i));
    report.parsed.notes.push_back({std::string(note::kPolicyDomainAttributed),
                                   "policies[" + std::to_string(i) + "].policy.policy-domain",
                                   "no policy-domain; counted for " + std::string(attribute_to) +
                                       ", the domain the report was sent for"});
    ++n;
  }
  return n;
}

bool keep_served(Ingested& report, const std::vector<std::string>& domains) {
  auto& policies = report.parsed.report.policies;
  if (domains.empty()) return true;
  std::vector<PolicyResult> kept;
  std::vector<std::uint32_t> index;
  for (std::size_t i = 0; i < policies.size(); ++i) {
    const std::string& d = policies[i].policy.domain;
    if (d.empty() || is_served(d, domains)) {
      kept.push_back(std::move(policies[i]));
      index.push_back(static_cast<std::uint32_t>(i));
      continue;
    }
    report.parsed.notes.push_back({std::string(note::kPolicyNotServed),
                                   "policies[" + std::to_string(i) + "].policy.policy-domain",
                                   d + " is not served here; kept in the raw report, not counted"});
  }
  // A report that names no policy at all is refused only when it names nothing served.
  const bool keep = !kept.empty() || policies.empty();
  if (kept.size() != policies.size()) report.policy_index = std::move(index);
  policies = std::move(kept);
  return keep;
}

bool dkim_aligned(std::string_view d, std::string_view from_domain) {
  if (d.empty() || from_domain.empty()) return false;
  const std::string signer = ascii_lower(d), from = ascii_lower(from_domain);
  return signer == from || signer == organizational_domain(from);
}

std::string impersonation(const Report& report, std::string_view signing_domain) {
  const WellKnownReporter* known = well_known_reporter(report.organization_name);
  if (!known || signs_for(*known, signing_domain)) return {};
  return "organization-name \"" + report.organization_name + "\" is " + std::string(known->name) +
         "'s, but the report is signed by " + std::string(signing_domain) + ", which does not sign " +
         std::string(known->name) + "'s reports (docs/well-known-reporters.md)";
}

namespace {

// DKIM key records for the verifier: answers cached by their DNS TTL (capped), so a
// reporter's key costs one query per TTL, not one per mail; resolvers (c-ares
// channels) kept and reused, one per verifying thread at a time. Bounded: at most
// kMaxKeyCacheEntries names; when full, expired entries go first, then the oldest.
class KeyLookup {
 public:
  KeyLookup(std::vector<std::string> servers, std::chrono::milliseconds timeout)
      : servers_(std::move(servers)), timeout_(timeout) {}

  std::expected<std::vector<std::string>, TxtLookupError> operator()(const std::string& name) {
    const auto now = std::chrono::steady_clock::now();
    std::string key = ascii_lower(name);
    {
      std::lock_guard lock(mu_);
      if (auto it = cache_.find(key); it != cache_.end() && it->second.expires > now) return it->second.value;
    }
    std::uint32_t ttl = 0;
    auto value = query(name, ttl);
    // Temporary failures are not remembered: the next mail asks again.
    if (value || value.error().kind == TxtLookupError::Kind::not_found) {
      const auto keep = value ? std::min<std::chrono::seconds>(std::chrono::seconds(ttl), kMaxKeyCacheTtl)
                              : kNegativeKeyCacheTtl;
      if (keep.count() > 0) remember(std::move(key), value, now + keep);
    }
    return value;
  }

 private:
  struct Entry {
    std::expected<std::vector<std::string>, TxtLookupError> value;
    std::chrono::steady_clock::time_point expires;
  };

  std::expected<std::vector<std::string>, TxtLookupError> query(const std::string& name, std::uint32_t& ttl) {
    auto resolver = take_resolver();
    if (!resolver) return std::unexpected(TxtLookupError{TxtLookupError::Kind::temporary, resolver.error()});
    auto answer = (*resolver)->txt(name);
    give_back(std::move(*resolver));
    switch (answer.status) {
      case DnsStatus::answer: {
        ttl = answer.ttl;
        std::vector<std::string> out;
        for (auto& r : answer.records) out.push_back(std::move(r.joined));
        return out;
      }
      case DnsStatus::nxdomain:
      case DnsStatus::nodata:
        return std::unexpected(TxtLookupError{TxtLookupError::Kind::not_found, std::string(describe(answer.status))});
      default:
        return std::unexpected(TxtLookupError{TxtLookupError::Kind::temporary,
                                              std::string(describe(answer.status)) + " " + answer.detail});
    }
  }

  std::expected<std::unique_ptr<DnsResolver>, std::string> take_resolver() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        auto r = std::move(idle_.back());
        idle_.pop_back();
        return r;
      }
    }
    ResolverOptions o;
    o.servers = servers_;
    o.timeout = timeout_;
    return DnsResolver::create(o);
  }
  void give_back(std::unique_ptr<DnsResolver> r) {
    std::lock_guard lock(mu_);
    if (idle_.size() < kMaxIdleResolvers) idle_.push_back(std::move(r));
  }

  void remember(std::string key, const std::expected<std::vector<std::string>, TxtLookupError>& value,
                std::chrono::steady_clock::time_point expires) {
    std::lock_guard lock(mu_);
    if (cache_.size() >= kMaxKeyCacheEntries && !cache_.contains(key)) {
      const auto now = std::chrono::steady_clock::now();
      std::erase_if(cache_, [&](const auto& e) { return e.second.expires <= now; });
      if (cache_.size() >= kMaxKeyCacheEntries)
        cache_.erase(std::min_element(cache_.begin(), cache_.end(), [](const auto& a, const auto& b) {
          return a.second.expires < b.second.expires;
        }));
    }
    cache_.insert_or_assign(std::move(key), Entry{value, expires});
  }

  const std::vector<std::string> servers_;
  const std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> cache_;
  std::vector<std::unique_ptr<DnsResolver>> idle_;
};

}  // namespace

TxtLookup make_txt_lookup(std::vector<std::string> servers, std::chrono::milliseconds timeout) {
  auto lookup = std::make_shared<KeyLookup>(std::move(servers), timeout);
  return [lookup](const std::string& name) { return (*lookup)(name); };
}

Intake::Intake(IntakeRules rules) { set_rules(std::move(rules)); }

void Intake::set_rules(IntakeRules rules) {
  rules_.store(std::make_shared<const Rules>(Rules{std::move(rules), ++g_rules_generation}));
}

// Step 5's verdict.
struct Intake::Auth {
  enum class Verdict { authenticated, unauthenticated, hold, retry_later };
  Verdict verdict = Verdict::unauthenticated;
  std::string method;  // for report_auth
  std::string signer;  // the aligned d= of a passing signature
  std::string why;     // hold / retry_later
};

Intake::Auth Intake::authenticate(const Submission& s, const Ingested& report, const IntakeRules& rules) const {
  Auth a;
  if (s.authority == Authority::admin) {
    a.verdict = Auth::Verdict::authenticated;
    a.method = s.admin_method.empty() ? "admin" : s.admin_method;
    return a;
  }
  if (!is_mail_channel(s.transport)) {
    a.method = "https";  // RFC 8460 §7: anyone can POST
    return a;
  }
  if (rules.dkim == DkimPolicy::off) {
    a.method = "dkim not checked";
    return a;
  }
  const std::string from = report.mail ? report.mail->from_domain : std::string();
  SignerFilter aligned = [&from](std::string_view d) { return dkim_aligned(d, from); };
  DkimResult r;
  std::optional<DkimResult> upstream;
  if (report.mail && !rules.trusted_authserv_ids.empty())
    upstream = dkim_from_auth_results(report.mail->authentication_results, rules.trusted_authserv_ids,
                                      report.mail->dkim_signatures, aligned);
  if (upstream) {
    r = *upstream;
  } else if (rules.verifier) {
    r = rules.verifier->verify(s.bytes, aligned);
  } else {
    r.status = DkimResult::Status::temperror;
    r.reason = "no DKIM verifier";
  }
  a.method = describe(r);
  if (r.passed()) {
    a.verdict = Auth::Verdict::authenticated;
    a.signer = ascii_lower(r.domain);
  } else if (r.status == DkimResult::Status::temperror && rules.dkim == DkimPolicy::require) {
    // The key could not be fetched now: the sender keeps the mail and retries.
    a.verdict = Auth::Verdict::retry_later;
    a.why = "cannot verify the DKIM signature now: " + r.reason;
  } else if (rules.dkim == DkimPolicy::require) {
    a.verdict = Auth::Verdict::hold;
    a.why = r.status == DkimResult::Status::none ? "not DKIM-signed (RFC 8460 §3)" : describe(r);
  }
  return a;
}

IntakeDecision Intake::check(const Submission& s) const {
  const std::shared_ptr<const Rules> current = rules_.load();
  return charged(s, current->rules, ingestor_for(*current));
}

IntakeDecision Intake::check(const Submission& s, Ingestor& ingestor) const {
  const std::shared_ptr<const Rules> current = rules_.load();
  return charged(s, current->rules, ingestor);
}

// decide(), with what it charged on the decision, whichever step returned (refusals too).
IntakeDecision Intake::charged(const Submission& s, const IntakeRules& rules, Ingestor& ingestor) const {
  std::shared_ptr<BudgetCharge> charge;
  IntakeDecision d = decide(s, rules, ingestor, charge);
  d.charge = std::move(charge);
  return d;
}

// The budget of unauthenticated bytes: a refusal when this submission would take its
// client past today's limit (nothing is charged then), nullopt to go on (`charge`:
// what was charged).
std::optional<IntakeDecision> Intake::over_budget(const Submission& s, const IntakeRules& rules,
                                                  std::shared_ptr<BudgetCharge>& charge) const {
  const std::size_t limit = rules.limits.max_unauthenticated_bytes_per_client;
  if (!s.client || s.authority == Authority::admin || limit == 0) return std::nullopt;
  const std::size_t n = s.received_bytes ? s.received_bytes : s.bytes.size();
  const auto now = std::chrono::system_clock::now();
  BudgetDecision b = budget_->charge(*s.client, n, limit, now);
  if (b.allowed) {
    charge = std::make_shared<BudgetCharge>(budget_, *s.client, n, now);
    return std::nullopt;
  }
  metrics().inc("tlsrptd_budget_refusals_total", {{"channel", to_token(s.transport)}});
  IntakeDecision d;
  d.kind = IntakeDecision::Kind::retry_later;
  d.outcome = Outcome::over_budget;
  d.retry_after = b.retry_after;
  d.detail = s.client->str() + " sent " + std::to_string(b.used) + " unauthenticated bytes today; " +
             std::to_string(n) + " more would pass limits.max_unauthenticated_bytes_per_client (" +
             std::to_string(limit) + ")";
  return d;
}

IntakeDecision Intake::decide(const Submission& s, const IntakeRules& rules, Ingestor& ingestor,
                              std::shared_ptr<BudgetCharge>& charge) const {
  // 0. budget: HTTPS is never authenticated (RFC 8460 §7), so it is charged before parsing.
  if (!is_mail_channel(s.transport))
    if (auto refused = over_budget(s, rules, charge)) return std::move(*refused);
  // 1. ingest
  auto ing = ingestor.ingest(s.bytes);
  if (!ing) {
    IntakeDecision d = refuse(outcome_for(ing.error().reason), ing.error());
    if (is_mail_channel(s.transport) && !looks_like_mail(s.bytes)) d.outcome = Outcome::not_a_report;
    return d;
  }
  // 2. received date
  if (auto e = check_received(ing->parsed.report, s.received_at)) return refuse(outcome_for(e->reason), *e);
  // 3. attribution: RFC 8460 §5.3 makes TLS-Report-Domain mandatory in a report mail.
  const std::string attribute_to = ing->mail ? normalize_domain(ing->mail->tls_report_domain).value_or(std::string())
                                             : s.path_domain;
  attribute_domainless(*ing, attribute_to);
  // 4. domains
  if (!keep_served(*ing, rules.domains))
    return refuse(Outcome::no_policy_for_domain,
                  Error{RejectReason::invalid_value, "policies", "no policy in this report is for a domain served here"});
  // 5. authentication
  IntakeDecision d;
  Auth auth = authenticate(s, *ing, rules);
  if (auth.verdict == Auth::Verdict::retry_later) {
    d.kind = IntakeDecision::Kind::retry_later;
    d.outcome = Outcome::storage_unavailable;
    d.detail = auth.why;
    return d;
  }
  // 5b. budget: mail that no signature vouches for.
  if (is_mail_channel(s.transport) && auth.verdict != Auth::Verdict::authenticated)
    if (auto refused = over_budget(s, rules, charge)) return std::move(*refused);
  d.provenance = provenance_of(s, auth.verdict == Auth::Verdict::authenticated, auth.method, auth.signer);
  d.kind = auth.verdict == Auth::Verdict::hold ? IntakeDecision::Kind::hold : IntakeDecision::Kind::store;
  d.hold_reason = auth.why;
  // 6. reporter: only a signature can contradict a claimed name.
  if (!auth.signer.empty()) {
    if (std::string why = impersonation(ing->parsed.report, auth.signer); !why.empty()) {
      d.kind = IntakeDecision::Kind::hold;
      d.hold_reason = std::move(why);
    }
  }
  // 7. footprint: after the hash (the identity is the content as sent), sized on the
  // bytes as received (HTTPS: before Content-Encoding), as the budget charges them.
  bound_footprint(ing->parsed, rules.limits, s.received_bytes ? s.received_bytes : s.bytes.size());
  for (const auto& p : ing->parsed.report.policies)
    ing->served_domains.push_back(served_domain(p.policy.domain, rules.domains));
  d.report_id = ing->parsed.report.report_id;
  d.organization_name = ing->parsed.report.organization_name;
  d.report = std::move(*ing);
  return d;
}

bool settle_budget(const IntakeDecision& d, Outcome outcome) {
  if (!d.charge) return false;
  // A refused body keeps its charge: it cost its parsing, and resending it is refused again.
  return d.charge->settle(reply_for(outcome).retry_later() || outcome == Outcome::duplicate);
}

void log_outcome(const Submission& s, const IntakeDecision& d, Outcome outcome, std::string_view detail) {
  settle_budget(d, outcome);
  const std::string who = std::string(to_token(s.transport)) + ": " + escape_line(s.source, 300) + ": ";
  const std::string what = "report " + quote_value(d.report_id, 200) + " of " + quote_value(d.organization_name, 100);
  const bool committed = outcome == Outcome::stored || outcome == Outcome::duplicate || outcome == Outcome::conflict ||
                         outcome == Outcome::held;
  if (!committed) {
    const bool later = reply_for(outcome).retry_later();
    metrics().inc("tlsrptd_reports_total", {{"channel", to_token(s.transport)},
                                            {"outcome", later ? "deferred" : "rejected"},
                                            {"reason", to_token(outcome)}});
    std::string why(detail.empty() ? std::string_view(d.detail) : detail);
    const std::string line = who + (later ? "deferred (" : "rejected (") + std::string(to_token(outcome)) + "): " +
                             escape_line(why, 300);
    if (later) log_warning(line);
    else log_info(line);
    return;
  }
  switch (outcome) {
    case Outcome::held:
      log_notice(who + what + " held, not counted: " + escape_line(d.hold_reason, 300));
      break;
    case Outcome::conflict:
      // Not counted: the same reporter sent other content under this report-id before.
      log_warning(who + what + " conflicts with a stored report of the same reporter (" +
                  escape_line(d.provenance.signing_domain.empty() ? "unauthenticated" : "d=" + d.provenance.signing_domain) +
                  ") with the same report-id but other content: kept, not counted");
      break;
    default:
      log_debug(who + what + " " + std::string(to_token(outcome)) + " (" + escape_line(d.provenance.auth_method, 200) + ")");
  }
}

}  // namespace tlsrpt::daemon
