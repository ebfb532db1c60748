// The five detectors. Each looks at the day's trusted observations of one policy
// domain, compares them with the baseline days, and says "present" (a Finding),
// "clean", or nothing. Text for admins is written here, next to the rule it explains.
#include "alerts/detectors.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <span>

#include "alerts/policy_normalize.hpp"
#include "parser/domain.hpp"
#include "parser/text.hpp"

namespace tlsrpt::alerts {
namespace {

// RFC 8460 §4.3.1: certificate problems (negotiation failures), plus DANE's
// tlsa-invalid (§4.3.2.1): the server's certificate did not validate.
constexpr std::string_view kCertificateResults[] = {"certificate-expired", "certificate-not-trusted",
                                                    "certificate-host-mismatch", "validation-failure",
                                                    "tlsa-invalid"};
constexpr std::string_view kStarttlsResults[] = {"starttls-not-supported"};
// RFC 8460 §4.3.2: the policy itself could not be fetched or validated.
constexpr std::string_view kPolicyResults[] = {"sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
                                               "dnssec-invalid", "dane-required"};

constexpr std::string_view kSts = "sts";
constexpr std::string_view kTlsa = "tlsa";
constexpr std::string_view kNoPolicy = "no-policy-found";

Count sat_add(Count a, Count b) {
  return a > std::numeric_limits<Count>::max() - b ? std::numeric_limits<Count>::max() : a + b;
}

bool in(std::span<const std::string_view> set, std::string_view v) {
  return std::find(set.begin(), set.end(), v) != set.end();
}

// One trusted observation with its policy normalised.
struct Obs {
  const PolicyObservation* src = nullptr;
  StsPolicy sts;                  // sts only
  std::vector<std::string> tlsa;  // tlsa only
  bool is(std::string_view t) const { return src->policy_type == t; }
  Count sessions() const { return sat_add(src->successful_sessions, src->failed_sessions); }
};

struct Day {
  std::string day;
  std::vector<Obs> obs;
  bool has(std::string_view type) const {
    return std::any_of(obs.begin(), obs.end(), [&](const Obs& o) { return o.is(type); });
  }
};

Day prepare(const DayObservations& d, bool trust_unauthenticated) {
  Day out{d.day, {}};
  for (const auto& p : d.policies) {
    if (!p.authenticated && !trust_unauthenticated) continue;
    Obs o;
    o.src = &p;
    if (p.policy_type == kSts) o.sts = normalize_sts(p.policy_strings, p.mx_hosts);
    if (p.policy_type == kTlsa) o.tlsa = normalize_tlsa(p.policy_strings);
    out.obs.push_back(std::move(o));
  }
  return out;
}

// ---- text --------------------------------------------------------------------

// A report-derived name inside prose: one line, escaped, cut.
std::string shown(std::string_view s) { return escape_line(s, kMaxNameInText); }

// A report-derived name inside a command or URL an admin may copy into a shell
// (dig, curl, openssl): only a syntactically valid host name, else a placeholder.
std::string cmd_name(std::string_view s, std::string_view placeholder) {
  return is_valid_hostname(s) ? std::string(s) : std::string(placeholder);
}

std::string join_shown(const std::vector<std::string>& names, std::size_t max_items = 3) {
  std::string out;
  std::size_t n = std::min(names.size(), max_items);
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += i + 1 == n && names.size() <= max_items ? " and " : ", ";
    out += shown(names[i]);
  }
  if (names.size() > max_items) out += " and " + std::to_string(names.size() - max_items) + " more";
  return out;
}

std::string percent(double r) {
  char buf[32];
  double p = r * 100.0;
  std::snprintf(buf, sizeof buf, p >= 10.0 || p == 0.0 ? "%.0f%%" : p >= 1.0 ? "%.1f%%" : "%.2f%%", p);
  return buf;
}

std::string plural(Count n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

// ---- evidence ------------------------------------------------------------------

std::vector<NamedCount> largest_first(const std::map<std::string, Count>& m) {
  std::vector<NamedCount> v;
  for (const auto& [k, c] : m) v.push_back({std::string(cut_utf8(k, kMaxEvidenceText)), c});
  std::stable_sort(v.begin(), v.end(), [](const NamedCount& a, const NamedCount& b) { return a.sessions > b.sessions; });
  if (v.size() > kMaxEvidenceItems) v.resize(kMaxEvidenceItems);
  return v;
}

std::vector<std::string> capped(std::vector<std::string> v) {
  for (auto& s : v) s = std::string(cut_utf8(s, kMaxEvidenceText));
  if (v.size() > kMaxEvidenceItems) v.resize(kMaxEvidenceItems);
  return v;
}

// "Google Inc. (signed by google.com)": the name a report claims next to the domain
// whose DKIM signature vouched for it, which is the part a forger cannot choose. A name
// that itself holds a parenthesis is quoted, so it cannot pose as the signer.
// A long name is cut before the signer is added, so the signer always shows.
std::string reporter_shown(const PolicyObservation& o) {
  const bool signed_by = o.reporter_id.starts_with("dkim:");
  std::string name = o.reporter;
  if (name.find('(') != std::string::npos) name = quote_value(name, kMaxNameInText);
  if (!signed_by) return name;
  if (name.size() > kMaxNameInText) name = std::string(cut_utf8(name, kMaxNameInText)) + "\xE2\x80\xA6";
  return name + " (signed by " + o.reporter_id.substr(5) + ")";
}

// The observations and failures behind one condition.
struct Acc {
  std::map<std::string, Count> result_types, mx_hosts, failed_by_type;
  std::set<std::string> reporters, reporter_ids;
  std::set<const Obs*> seen;
  bool authenticated = false, unauthenticated = false;
  bool enforced = false;  // a policy that makes senders refuse delivery (sts enforce, tlsa)
  Count reports = 0, failed = 0;

  void note(const Obs& o) {
    if (!seen.insert(&o).second) return;
    reporters.insert(reporter_shown(*o.src));
    if (!o.src->reporter_id.empty()) reporter_ids.insert(o.src->reporter_id);
    (o.src->authenticated ? authenticated : unauthenticated) = true;
    reports = sat_add(reports, o.src->reports);
    if (o.is(kTlsa) || (o.is(kSts) && o.sts.mode == "enforce")) enforced = true;
  }
  void add(const Obs& o, const FailureObservation& f) {
    if (f.failed_sessions == 0) return;
    note(o);
    result_types[f.result_type] = sat_add(result_types[f.result_type], f.failed_sessions);
    if (f.receiving_mx_hostname && !f.receiving_mx_hostname->empty()) {
      std::string h = normalize_mx_name(*f.receiving_mx_hostname);
      mx_hosts[h] = sat_add(mx_hosts[h], f.failed_sessions);
    }
    failed_by_type[o.src->policy_type] = sat_add(failed_by_type[o.src->policy_type], f.failed_sessions);
    failed = sat_add(failed, f.failed_sessions);
  }
  bool any() const { return failed > 0; }
  std::string primary_type() const {
    std::string best;
    Count n = 0;
    for (const auto& [t, c] : failed_by_type)
      if (c > n || best.empty()) best = t, n = c;
    return best;
  }
  std::vector<std::string> mx_names() const {
    std::vector<std::string> v;
    for (const auto& nc : largest_first(mx_hosts)) v.push_back(nc.name);
    return v;
  }
  std::vector<std::string> type_names() const {
    std::vector<std::string> v;
    for (const auto& nc : largest_first(result_types)) v.push_back(nc.name);
    return v;
  }
};

struct Context {
  const DetectorInput& in;
  const DetectorConfig& cfg;
  Day today;
  std::vector<Day> history;       // baseline days with trusted data, oldest first
  const Day* ref = nullptr;       // the latest of them
  std::span<const Day> before_ref;  // the ones before ref
  Count successful = 0, failed = 0;  // the day's sessions
};

Evidence base_evidence(const Context& c, const Acc& acc) {
  Evidence e;
  e.reporters = capped(std::vector<std::string>(acc.reporters.begin(), acc.reporters.end()));
  e.reporter_ids = capped(std::vector<std::string>(acc.reporter_ids.begin(), acc.reporter_ids.end()));
  e.sources = acc.authenticated && acc.unauthenticated ? "mixed" : acc.unauthenticated ? "unauthenticated" : "authenticated";
  e.reports = acc.reports;
  e.successful_sessions = c.successful;
  e.failed_sessions = c.failed;
  e.result_types = largest_first(acc.result_types);
  e.mx_hosts = largest_first(acc.mx_hosts);
  e.first_report = c.history.empty();
  e.baseline_days = static_cast<int>(c.history.size());
  return e;
}

Finding make(const Context& c, std::string_view kind, Severity sev, std::string type, std::string summary,
             std::string explanation, Evidence ev, bool opens, const Acc& acc) {
  Finding f;
  f.alert.kind = std::string(kind);
  f.alert.severity = sev;
  f.alert.policy_domain = c.in.policy_domain;
  f.alert.policy_type = std::move(type);
  f.alert.day = c.today.day;
  f.alert.summary = std::string(kind_title(kind)) + " \xE2\x80\x94 " + summary;
  f.alert.explanation = std::move(explanation);
  f.alert.evidence = std::move(ev);
  f.opens = opens;
  f.authenticated = acc.authenticated;
  return f;
}

// ---- conditions (functions of one day, so the reference day can be asked too) ----

// RFC 8461 §4.1: a failed session at an MX that none of the applied policy's mx
// patterns match (docs/receiver-rules.md#policy-strings-in-alerts).
bool uncovered(const Obs& o, const FailureObservation& f) {
  if (!o.is(kSts) || o.sts.mx.empty() || o.sts.mode == "none" || !f.receiving_mx_hostname) return false;
  std::string h = normalize_mx_name(*f.receiving_mx_hostname);
  return !h.empty() && !mx_covered(o.sts.mx, h);
}

Acc uncovered_failures(const Day& d) {
  Acc acc;
  for (const auto& o : d.obs)
    for (const auto& f : o.src->failures)
      if (uncovered(o, f)) acc.add(o, f);
  return acc;
}

// Failures of the given result types; those at an uncovered MX are the mx-change
// alert's and are left out, so one moved MX raises one alert.
Acc failures_of(const Day& d, std::span<const std::string_view> types) {
  Acc acc;
  for (const auto& o : d.obs)
    for (const auto& f : o.src->failures)
      if (in(types, f.result_type) && !uncovered(o, f)) acc.add(o, f);
  return acc;
}

// "A domain that had an STS/TLSA policy is suddenly reported as no-policy-found."
struct LostPolicy {
  Acc acc;
  std::vector<std::string> types;  // the policy types the baseline had ("sts", "tlsa")
  Count sessions = 0;
};

LostPolicy lost_policy(const Day& d, std::span<const Day> history) {
  LostPolicy out;
  bool had_sts = false, had_tlsa = false;
  for (const auto& h : history) {
    had_sts = had_sts || h.has(kSts);
    had_tlsa = had_tlsa || h.has(kTlsa);
  }
  if (!had_sts && !had_tlsa) return out;
  for (const auto& o : d.obs)
    if (o.is(kNoPolicy)) {
      out.acc.note(o);
      out.sessions = sat_add(out.sessions, o.sessions());
    }
  if (out.acc.reports == 0) return out;
  // Name first the type that is missing today; a reporter with a cached policy may
  // still report it.
  if (had_sts && !d.has(kSts)) out.types.emplace_back(kSts);
  if (had_tlsa && !d.has(kTlsa)) out.types.emplace_back(kTlsa);
  if (had_sts && d.has(kSts)) out.types.emplace_back(kSts);
  if (had_tlsa && d.has(kTlsa)) out.types.emplace_back(kTlsa);
  return out;
}

struct Rate {
  Count total = 0, failed = 0;
};

Rate rate_of(const Day& d) {
  Rate r;
  for (const auto& o : d.obs) {
    r.total = sat_add(r.total, o.sessions());
    r.failed = sat_add(r.failed, o.src->failed_sessions);
  }
  return r;
}

Rate rate_of(std::span<const Day> days) {
  Rate r;
  for (const auto& d : days) {
    Rate x = rate_of(d);
    r.total = sat_add(r.total, x.total);
    r.failed = sat_add(r.failed, x.failed);
  }
  return r;
}

double ratio(const Rate& r) { return r.total ? static_cast<double>(r.failed) / static_cast<double>(r.total) : 0.0; }

// The baseline's ratio only counts when it rests on min_sessions sessions.
double baseline_ratio(const Rate& base, const DetectorConfig& cfg) {
  return base.total >= cfg.min_sessions && base.total > 0 ? ratio(base) : 0.0;
}

bool rate_high(const Rate& today, const Rate& base, const DetectorConfig& cfg) {
  if (today.total == 0 || today.total < cfg.min_sessions) return false;
  if (ratio(today) < cfg.failure_ratio) return false;
  if (baseline_ratio(base, cfg) == 0.0) return true;
  // today.failed/today.total >= factor * base.failed/base.total, in exact integers.
  __extension__ using U = unsigned __int128;
  return U(today.failed) * U(base.total) >= U(kBaselineFactor) * U(base.failed) * U(today.total);
}

// ---- mx-change -----------------------------------------------------------------

// The observation with the most sessions among those matching `pred`.
template <class Pred>
const Obs* busiest(const Day& d, Pred pred) {
  const Obs* best = nullptr;
  for (const auto& o : d.obs)
    if (pred(o) && (!best || o.sessions() > best->sessions())) best = &o;
  return best;
}

// The latest baseline observation of `type` with a non-empty set, busiest first.
template <class Pred>
const Obs* latest_in_history(const Context& c, Pred pred) {
  for (auto it = c.history.rbegin(); it != c.history.rend(); ++it)
    if (const Obs* o = busiest(*it, pred)) return o;
  return nullptr;
}

void mx_change(Context& c, Evaluation& out) {
  if (!c.today.has(kSts)) return;
  auto has_mx = [](const Obs& o) { return o.is(kSts) && !o.sts.mx.empty(); };

  // RFC 8460 §4.5 and docs/receiver-rules.md#policy-strings-in-alerts: compare the normalised mx sets senders applied.
  std::set<std::vector<std::string>> base_sets;
  for (const auto& d : c.history)
    for (const auto& o : d.obs)
      if (has_mx(o)) base_sets.insert(o.sts.mx);
  Acc drift;
  const Obs* new_obs = nullptr;
  if (!base_sets.empty()) {
    for (const auto& o : c.today.obs)
      if (has_mx(o) && !base_sets.contains(o.sts.mx)) {
        drift.note(o);
        if (!new_obs || o.sessions() > new_obs->sessions()) new_obs = &o;
      }
  }
  Acc unc = uncovered_failures(c.today);
  if (!new_obs && !unc.any()) {
    out.clean_kinds.emplace_back(kMxChange);
    return;
  }

  Acc all = unc;
  for (const Obs* o : drift.seen) all.note(*o);
  Evidence ev = base_evidence(c, all);
  const Obs* old_obs = latest_in_history(c, has_mx);
  const Obs* applied = new_obs ? new_obs : busiest(c.today, [&](const Obs& o) {
    return std::any_of(o.src->failures.begin(), o.src->failures.end(), [&](const auto& f) { return uncovered(o, f); });
  });
  if (old_obs) ev.old_policy = capped(old_obs->sts.lines);
  if (applied) ev.new_policy = capped(applied->sts.lines);
  if (new_obs && old_obs) {
    ev.added = capped(set_minus(new_obs->sts.mx, old_obs->sts.mx));
    ev.removed = capped(set_minus(old_obs->sts.mx, new_obs->sts.mx));
  }
  const std::string d = shown(c.in.policy_domain);
  const std::string dn = cmd_name(c.in.policy_domain, "<domain>");

  std::string summary, text;
  Severity sev = Severity::warning;
  if (unc.any()) {
    auto hosts = unc.mx_names();
    sev = unc.enforced ? Severity::critical : Severity::warning;
    summary = join_shown(hosts, 1) + (hosts.size() == 1 ? " is" : " are") + " not in your MTA-STS policy";
    std::vector<std::string> patterns = applied ? applied->sts.mx : std::vector<std::string>{};
    text = "Sending mail servers reported " + plural(unc.failed, "failed session", "failed sessions") + " at " +
           join_shown(hosts, 5) + ", but the MTA-STS policy they applied for " + d + " only lists " +
           (patterns.empty() ? std::string("other hosts") : join_shown(patterns, 5)) +
           ". This usually means an MX record was changed or added without updating the MTA-STS policy. " +
           (unc.enforced ? "The policy is in enforce mode, so these senders refuse to deliver to that host and mail is "
                           "delayed or bounced. "
                         : "The policy is in testing mode, so mail was still delivered, but it will fail once you "
                           "switch to enforce. ") +
           "What to do: check the MX records of " + d + ". If " + shown(hosts.front()) +
           " is your mail server, add an \"mx: " + cmd_name(hosts.front(), "<its name>") +
           "\" line (or a matching \"*.\" pattern) to https://mta-sts." + dn +
           "/.well-known/mta-sts.txt and change the id= value in the _mta-sts." + dn +
           " TXT record so senders fetch the new policy. If you do not recognise it, someone may be tampering with "
           "your DNS: investigate before changing anything.";
    if (new_obs) text += " The MX list of the policy also changed on this day (see added/removed in the evidence).";
  } else {
    std::string change;
    if (!ev.added.empty()) change += "added " + join_shown(ev.added);
    if (!ev.removed.empty()) change += (change.empty() ? "" : "; ") + std::string("removed ") + join_shown(ev.removed);
    if (change.empty()) change = "now " + join_shown(new_obs->sts.mx);
    summary = "the MX hosts in your MTA-STS policy changed: " + change;
    text = "The MTA-STS policy that sending mail servers applied for " + d +
           " lists different MX hosts than in the previous days (" + change +
           "). If you changed your MX records and policy on purpose, this confirms senders picked up the new policy "
           "and there is nothing to do. If you did not, check who can edit https://mta-sts." + dn +
           "/.well-known/mta-sts.txt and your DNS zone: whoever controls the policy controls where senders may "
           "deliver. In both cases make sure every MX record of " + d +
           " matches one of the mx lines, or senders that enforce the policy will refuse to deliver to it.";
  }
  bool opens = new_obs != nullptr || (unc.any() && !(c.ref && uncovered_failures(*c.ref).any()));
  out.findings.push_back(make(c, kMxChange, sev, std::string(kSts), std::move(summary), std::move(text), std::move(ev),
                              opens, all));
}

// ---- certificate-change --------------------------------------------------------

std::string certificate_advice(const Acc& acc) {
  std::string s;
  for (const auto& t : acc.type_names()) {
    if (t == "certificate-expired") s += " The certificate has expired.";
    else if (t == "certificate-host-mismatch") s += " The certificate does not name the MX host.";
    else if (t == "certificate-not-trusted") s += " The certificate chain is not trusted (unknown CA, missing intermediate, or self-signed).";
    else if (t == "tlsa-invalid") s += " The certificate matches none of your DANE TLSA records.";
    else if (t == "validation-failure") s += " The sender could not validate the certificate.";
  }
  return s;
}

void certificate_change(Context& c, Evaluation& out) {
  if (!c.today.has(kSts) && !c.today.has(kTlsa)) return;
  auto has_tlsa = [](const Obs& o) { return o.is(kTlsa) && !o.tlsa.empty(); };
  std::set<std::vector<std::string>> base_sets;
  for (const auto& d : c.history)
    for (const auto& o : d.obs)
      if (has_tlsa(o)) base_sets.insert(o.tlsa);
  Acc rotation;
  const Obs* new_obs = nullptr;
  if (!base_sets.empty())
    for (const auto& o : c.today.obs)
      if (has_tlsa(o) && !base_sets.contains(o.tlsa)) {
        rotation.note(o);
        if (!new_obs || o.sessions() > new_obs->sessions()) new_obs = &o;
      }
  Acc certs = failures_of(c.today, kCertificateResults);
  if (!new_obs && !certs.any()) {
    out.clean_kinds.emplace_back(kCertificateChange);
    return;
  }
  Acc all = certs;
  for (const Obs* o : rotation.seen) all.note(*o);
  Evidence ev = base_evidence(c, all);
  if (new_obs) {
    if (const Obs* old_obs = latest_in_history(c, has_tlsa)) {
      ev.old_policy = capped(old_obs->tlsa);
      ev.added = capped(set_minus(new_obs->tlsa, old_obs->tlsa));
      ev.removed = capped(set_minus(old_obs->tlsa, new_obs->tlsa));
    }
    ev.new_policy = capped(new_obs->tlsa);
  }
  const std::string d = shown(c.in.policy_domain);
  std::string summary, text, type;
  Severity sev;
  if (certs.any()) {
    sev = Severity::critical;
    type = certs.primary_type();
    auto hosts = certs.mx_names();
    summary = plural(certs.failed, "session", "sessions") + " failed certificate checks (" + join_shown(certs.type_names(), 2) +
              ")" + (hosts.empty() ? std::string() : " at " + join_shown(hosts, 1));
    if (new_obs) summary += " after a TLSA record change";
    // For DANE the policy domain is the MX host itself: name it once.
    const bool only_self = hosts.size() == 1 && hosts.front() == normalize_mx_name(c.in.policy_domain);
    const std::string mx = hosts.size() == 1 ? cmd_name(hosts.front(), "<mx>") : std::string("<mx>");
    text = "Sending mail servers could not validate the TLS certificate of " +
           (hosts.empty() ? "the mail servers of " + d : join_shown(hosts, 5) + (only_self ? "" : " (mail for " + d + ")")) +
           ": " + plural(certs.failed, "session", "sessions") + " failed." + certificate_advice(certs) +
           " Senders that enforce MTA-STS or DANE do not deliver mail when this happens, so mail through " +
           (hosts.size() > 1 ? "these servers" : "it") +
           " is probably being delayed or bounced. What to check: the certificate the server presents (openssl "
           "s_client -starttls smtp -connect " + mx + ":25 -servername " + mx +
           "): its expiry date, that it names the MX host, and that the full chain is served; for DANE, that a TLSA "
           "record at _25._tcp." + mx +
           " matches the certificate or key in use (publish the new TLSA record before switching certificates, and "
           "keep the old one until the switch is done).";
    if (new_obs) text += " The TLSA records also changed on this day: a rollover that went wrong is the likely cause.";
  } else {
    sev = Severity::info;
    type = std::string(kTlsa);
    std::string change;
    if (!ev.added.empty()) change += plural(ev.added.size(), "record added", "records added");
    if (!ev.removed.empty()) change += (change.empty() ? "" : ", ") + plural(ev.removed.size(), "record removed", "records removed");
    if (change.empty()) change = "a different set";
    summary = "the DANE TLSA records for " + d + " changed (" + change + ")";
    text = "The DANE TLSA records that sending mail servers found for " + d + " changed (" + change +
           "). This is expected after a planned certificate or key rollover, and there is nothing to do if you "
           "planned it. Make sure the certificate your mail server presents matches one of the new records: if it "
           "does not, DANE-validating senders stop delivering and a critical certificate alert follows. If you did "
           "not change the records, check who can edit your DNS zone.";
  }
  bool opens = new_obs != nullptr || (certs.any() && !(c.ref && failures_of(*c.ref, kCertificateResults).any()));
  out.findings.push_back(make(c, kCertificateChange, sev, std::move(type), std::move(summary), std::move(text),
                              std::move(ev), opens, all));
}

// ---- starttls-failure ------------------------------------------------------------

void starttls_failure(Context& c, Evaluation& out) {
  Acc acc = failures_of(c.today, kStarttlsResults);
  if (!acc.any()) {
    out.clean_kinds.emplace_back(kStarttlsFailure);
    return;
  }
  const std::string d = shown(c.in.policy_domain);
  auto hosts = acc.mx_names();
  std::string where = hosts.empty() ? "your mail server" : join_shown(hosts, 1);
  std::string summary = where + " did not offer STARTTLS (" +
                        plural(acc.failed, "failed session", "failed sessions") + ")";
  const std::string mx = hosts.size() == 1 ? cmd_name(hosts.front(), "<mx>") : std::string("<mx>");
  std::string text =
      plural(acc.failed, "session", "sessions") + " to " +
      (hosts.empty() ? "the mail servers of " + d : join_shown(hosts, 5) + " (mail for " + d + ")") +
      " failed because the server did not offer STARTTLS, so the sender could not encrypt the connection. " +
      (acc.enforced ? "With an MTA-STS policy in enforce mode or DANE, senders do not deliver such mail: it is being "
                      "delayed or bounced. "
                    : "Without an enforced policy the mail may have been sent unencrypted. ") +
      "What to check: that the mail server still announces STARTTLS in its EHLO reply (openssl s_client -starttls "
      "smtp -connect " + mx + ":25), that its TLS certificate and key are configured and readable after a restart or "
      "upgrade, and that no firewall or \"SMTP inspection\" device strips STARTTLS. If only one reporter sees this, "
      "a middlebox on that sender's path is the likely cause.";
  bool opens = !(c.ref && failures_of(*c.ref, kStarttlsResults).any());
  Evidence ev = base_evidence(c, acc);
  out.findings.push_back(make(c, kStarttlsFailure, acc.enforced ? Severity::critical : Severity::warning,
                              acc.primary_type(), std::move(summary), std::move(text), std::move(ev), opens, acc));
}

// ---- policy-failure --------------------------------------------------------------

std::string policy_result_advice(std::string_view t, const std::string& d) {
  if (t == "sts-policy-fetch-error")
    return " sts-policy-fetch-error: senders could not download https://mta-sts." + d +
           "/.well-known/mta-sts.txt (host down, DNS for mta-sts." + d + " broken, or a timeout).";
  if (t == "sts-policy-invalid")
    return " sts-policy-invalid: the policy file was fetched but is not valid (syntax, wrong Content-Type, or not "
           "HTTP 200).";
  if (t == "sts-webpki-invalid")
    return " sts-webpki-invalid: the HTTPS certificate of mta-sts." + d + " is not valid (expired, wrong name, or "
           "untrusted chain).";
  if (t == "dnssec-invalid")
    return " dnssec-invalid: DNSSEC validation of your MX or TLSA records failed (a broken signature or delegation), "
           "so DANE senders defer mail.";
  if (t == "dane-required")
    return " dane-required: a sender requires DANE for your domain but found no valid TLSA records, so it does "
           "not deliver.";
  return "";
}

void policy_failure(Context& c, Evaluation& out) {
  Acc pf = failures_of(c.today, kPolicyResults);
  LostPolicy lost = lost_policy(c.today, c.history);
  if (!pf.any() && lost.types.empty()) {
    out.clean_kinds.emplace_back(kPolicyFailure);
    return;
  }
  Acc all = pf;
  for (const Obs* o : lost.acc.seen) all.note(*o);
  Evidence ev = base_evidence(c, all);
  const std::string d = shown(c.in.policy_domain);
  const std::string dn = cmd_name(c.in.policy_domain, "<domain>");
  bool critical = pf.result_types.contains("dnssec-invalid") || pf.result_types.contains("dane-required");
  std::string summary, text, type;
  if (!lost.types.empty()) {
    type = lost.types.front();
    bool sts = type == kSts;
    if (const Obs* before = latest_in_history(c, [&](const Obs& o) { return o.is(type); }))
      ev.old_policy = capped(before->is(kSts) ? before->sts.lines : before->tlsa);
    ev.new_policy = {std::string(kNoPolicy)};
    summary = d + " is reported as having no " + (sts ? "MTA-STS policy" : "DANE TLSA records") + " (it had " +
              (sts ? "one)" : "them)");
    if (sts) {
      text = "Sending mail servers that used to find an MTA-STS policy for " + d +
             " now report \"no policy found\". Either the policy stopped being served (the _mta-sts." + dn +
             " TXT record was removed, or https://mta-sts." + dn +
             "/.well-known/mta-sts.txt is unreachable), or someone is blocking senders from fetching it. Without "
             "the policy, senders deliver without requiring TLS, so mail can be intercepted or downgraded. What to "
             "check: dig TXT _mta-sts." + dn + " and curl https://mta-sts." + dn +
             "/.well-known/mta-sts.txt (it must answer 200, text/plain, with a valid certificate). If you removed "
             "MTA-STS on purpose there is nothing to do: the alert stops once the previous days no longer show a "
             "policy.";
    } else {
      text = "Sending mail servers that used to find DANE TLSA records for " + d +
             " now report \"no policy found\". Check that the TLSA records at _25._tcp." + dn +
             " still exist and that the zone is still DNSSEC-signed (dig +dnssec TLSA _25._tcp." + dn +
             "). Without them DANE senders fall back to unauthenticated TLS. If you removed DANE on purpose there is "
             "nothing to do.";
    }
    if (pf.any()) text += " Also reported:";
    for (const auto& t : pf.type_names()) text += policy_result_advice(t, dn);
  } else {
    type = pf.primary_type();
    auto types = pf.type_names();
    summary = "senders could not use your " +
              std::string(type == kTlsa ? "DANE records" : type == kSts ? "MTA-STS policy" : "TLS policy") + " (" +
              join_shown(types, 2) + ", " + plural(pf.failed, "session", "sessions") + ")";
    text = "Sending mail servers could not fetch or validate the TLS policy of " + d + ": " +
           plural(pf.failed, "session", "sessions") + " were affected.";
    for (const auto& t : types) text += policy_result_advice(t, dn);
    text += std::string(" ") +
            (critical ? "Senders that require DANE defer or bounce mail while this lasts. "
                      : "Senders with a cached policy keep using it until it expires; others deliver without "
                        "requiring TLS. ") +
            "Fix the policy host or DNS records named above; the alert clears when a later day's reports are clean.";
  }
  bool opens = !(c.ref && (failures_of(*c.ref, kPolicyResults).any() || !lost_policy(*c.ref, c.before_ref).types.empty()));
  out.findings.push_back(make(c, kPolicyFailure, critical ? Severity::critical : Severity::warning, std::move(type),
                              std::move(summary), std::move(text), std::move(ev), opens, all));
}

// ---- failure-rate ------------------------------------------------------------------

void failure_rate(Context& c, Evaluation& out) {
  Rate today = rate_of(c.today);
  if (today.total == 0) return;
  Rate base = rate_of(std::span<const Day>(c.history));
  // A more specific failure alert already explains the failures: one alert per event.
  bool explained = uncovered_failures(c.today).any() || failures_of(c.today, kCertificateResults).any() ||
                   failures_of(c.today, kStarttlsResults).any() || failures_of(c.today, kPolicyResults).any();
  bool high = rate_high(today, base, c.cfg);
  if (!high) {
    if (!explained) out.clean_kinds.emplace_back(kFailureRate);
    return;
  }
  if (explained) return;

  Acc acc;
  std::map<std::string, Count> failed_by_type;  // from the summaries: details may be absent
  for (const auto& o : c.today.obs) {
    if (o.src->failed_sessions == 0) continue;
    acc.note(o);
    failed_by_type[o.src->policy_type] = sat_add(failed_by_type[o.src->policy_type], o.src->failed_sessions);
    for (const auto& f : o.src->failures) acc.add(o, f);
  }
  acc.failed_by_type = std::move(failed_by_type);
  Evidence ev = base_evidence(c, acc);
  double r = ratio(today), b = baseline_ratio(base, c.cfg);
  ev.failure_ratio = r;
  ev.baseline_failure_ratio = b;
  const std::string d = shown(c.in.policy_domain);
  std::string usual = c.history.empty() ? std::string("no earlier reports") : "usually " + percent(b);
  std::string summary = percent(r) + " of " + plural(today.total, "session", "sessions") + " failed (" + usual + ")";
  std::string text =
      percent(r) + " of the " + plural(today.total, "TLS session", "TLS sessions") +
      " that sending mail servers reported for " + d + " on " + c.today.day + " failed, against " +
      (c.history.empty() ? std::string("no earlier reports") : percent(b) + " in the previous days") +
      " (alert threshold " + percent(c.cfg.failure_ratio) +
      "). The reports do not name a cause that another alert covers" +
      (ev.result_types.empty() ? std::string(" (no failure details were given)") : "") +
      ". What to check: the result types and MX hosts in the evidence, then the TLS setup of those MX hosts "
      "(certificate, STARTTLS, MTA-STS policy). `tlsrptd stats --domain " + cmd_name(c.in.policy_domain, "<domain>") +
      "` shows the numbers per day.";
  bool opens = !(c.ref && rate_high(rate_of(*c.ref), rate_of(c.before_ref), c.cfg));
  Severity sev = r >= 0.5 ? Severity::critical : Severity::warning;
  std::string type = acc.primary_type();
  out.findings.push_back(make(c, kFailureRate, sev, type.empty() ? std::string(kSts) : type, std::move(summary),
                              std::move(text), std::move(ev), opens, acc));
}

}  // namespace

Evaluation evaluate(const DetectorInput& in, const DetectorConfig& cfg) {
  Evaluation out;
  Context c{in, cfg, prepare(in.current, cfg.trust_unauthenticated), {}, nullptr, {}, 0, 0};
  if (c.today.obs.empty()) return out;  // nothing trusted to judge by
  for (const auto& d : in.baseline) {
    if (d.day >= in.current.day) continue;  // the baseline is strictly earlier days
    Day day = prepare(d, cfg.trust_unauthenticated);
    if (!day.obs.empty()) c.history.push_back(std::move(day));
  }
  std::sort(c.history.begin(), c.history.end(), [](const Day& a, const Day& b) { return a.day < b.day; });
  if (!c.history.empty()) {
    c.ref = &c.history.back();
    c.before_ref = std::span<const Day>(c.history.data(), c.history.size() - 1);
  }
  for (const auto& o : c.today.obs) {
    c.successful = sat_add(c.successful, o.src->successful_sessions);
    c.failed = sat_add(c.failed, o.src->failed_sessions);
  }
  mx_change(c, out);
  certificate_change(c, out);
  starttls_failure(c, out);
  policy_failure(c, out);
  failure_rate(c, out);
  return out;
}

}  // namespace tlsrpt::alerts
