// The alert hook: storage rows -> detector input -> findings -> lifecycle -> sinks.
// Everything it decides is in alerts/ (detectors, lifecycle rules); everything it
// stores is in storage/alert_store. This file only connects them.
#include "daemon/intake/alerting.hpp"

#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include "alerts/detectors.hpp"
#include "alerts/lifecycle.hpp"
#include "alerts/sinks/email_sink.hpp"
#include "alerts/sinks/file_sink.hpp"
#include "alerts/sinks/log_sink.hpp"
#include "alerts/sinks/webhook_sink.hpp"
#include "parser/datetime.hpp"
#include "parser/domain.hpp"
#include "storage/alert_store.hpp"

namespace tlsrpt::daemon {
namespace {

using std::chrono::sys_seconds;

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  std::string h(buf);
  return alerts::valid_mailbox("x@" + h) ? h : std::string("localhost");
}

std::expected<std::string, std::string> read_password(const AlertSinkConfig& s) {
  std::ifstream in(s.password_file, std::ios::binary);
  if (!in) return std::unexpected(s.where + ": alerts.sink.password_file: cannot read " + s.password_file);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.empty()) return std::unexpected(s.where + ": alerts.sink.password_file: " + s.password_file + " is empty");
  return line;
}

alerts::DetectorInput to_input(const std::string& domain, const std::string& day,
                               std::vector<storage::PolicySum>&& rows) {
  alerts::DetectorInput in;
  in.policy_domain = domain;
  in.current.day = day;
  std::map<std::string, std::vector<alerts::PolicyObservation>> earlier;
  for (auto& r : rows) {
    alerts::PolicyObservation o;
    o.reporter = std::move(r.reporter);
    o.reporter_id = std::move(r.reporter_id);
    o.authenticated = r.authenticated;
    o.policy_type = std::move(r.policy_type);
    o.policy_strings = std::move(r.policy_strings);
    o.mx_hosts = std::move(r.mx_hosts);
    o.reports = r.reports;
    o.successful_sessions = r.successful_sessions;
    o.failed_sessions = r.failed_sessions;
    for (auto& f : r.failures)
      o.failures.push_back(alerts::FailureObservation{std::move(f.result_type), std::move(f.receiving_mx_hostname),
                                                      f.failed_sessions});
    if (r.day == day) in.current.policies.push_back(std::move(o));
    else earlier[r.day].push_back(std::move(o));
  }
  for (auto& [d, obs] : earlier) in.baseline.push_back(alerts::DayObservations{d, std::move(obs)});
  return in;
}

storage::AlertFields to_fields(const alerts::Alert& a) {
  return storage::AlertFields{a.policy_domain, a.kind,    a.policy_type,         std::string(to_token(a.severity)),
                              a.day,           a.summary, a.explanation, alerts::to_json(a.evidence)};
}

}  // namespace

std::expected<std::vector<std::unique_ptr<alerts::Sink>>, std::string> make_sinks(const AlertsConfig& cfg, LogFn log) {
  std::vector<std::unique_ptr<alerts::Sink>> out;
  if (cfg.sinks.empty()) {
    out.push_back(std::make_unique<alerts::LogSink>(log));
    return out;
  }
  for (const auto& s : cfg.sinks) {
    const int attempts = 1 + s.retries;
    if (s.type == "log") {
      out.push_back(std::make_unique<alerts::LogSink>(log));
    } else if (s.type == "file") {
      out.push_back(std::make_unique<alerts::FileSink>(s.path, attempts));
    } else if (s.type == "email") {
      alerts::EmailOptions o;
      o.smarthost = s.smarthost;
      o.require_tls = s.starttls == "required";
      o.from = s.from.empty() ? "tlsrptd@" + host_name() : s.from;
      o.to = s.to;
      o.username = s.username;
      if (!s.username.empty()) {
        auto pw = read_password(s);
        if (!pw) return std::unexpected(pw.error());
        o.password = std::move(*pw);
      }
      o.ca_file = s.ca_file;
      o.timeout = s.timeout;
      o.attempts = attempts;
      out.push_back(std::make_unique<alerts::EmailSink>(std::move(o)));
    } else if (s.type == "webhook") {
      alerts::WebhookOptions o;
      o.url = s.url;
      o.slack = s.format == "slack";
      o.allow_private = s.allow_private;
      o.ca_file = s.ca_file;
      o.timeout = s.timeout;
      o.attempts = attempts;
      out.push_back(std::make_unique<alerts::WebhookSink>(std::move(o)));
    } else {
      return std::unexpected(s.where + ": alerts.sink: unknown type \"" + s.type + "\"");
    }
  }
  return out;
}

std::expected<std::unique_ptr<Alerting>, std::string> Alerting::create(const AlertsConfig& cfg, LogFn log) {
  auto sinks = make_sinks(cfg, log);
  if (!sinks) return std::unexpected(sinks.error());
  return std::make_unique<Alerting>(cfg, std::move(*sinks), std::move(log));
}

Alerting::Alerting(const AlertsConfig& cfg, std::vector<std::unique_ptr<alerts::Sink>> sinks, LogFn log,
                   alerts::Dispatcher::Options dispatch)
    : cfg_(cfg), log_(log), dispatcher_(std::move(sinks), log, dispatch) {}

Alerting::~Alerting() = default;

bool Alerting::shutdown(std::chrono::milliseconds deadline) { return dispatcher_.drain(deadline); }

Alerting::Result Alerting::after_commit(storage::Db& db, std::span<const std::int64_t> report_ids, bool authenticated) {
  return after_commit(db, report_ids, authenticated,
                      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()));
}

namespace {

using Status = std::expected<void, std::string>;

template <class T>
std::unexpected<std::string> failed(const std::expected<T, storage::StoreError>& r) {
  return std::unexpected(r.error().message);
}

// One evaluation inside the alert store's transaction: the (domain, day) pairs a
// batch touched, run through the detectors and the lifecycle rules, with the hourly
// cap. Collects what to send; nothing is sent before the transaction commits.
class AlertPass {
 public:
  AlertPass(storage::AlertStore& st, const AlertsConfig& cfg, sys_seconds now)
      : st_(st), cfg_(cfg), now_(now), now_text_(format_rfc3339(now)) {}

  Status start();
  Status evaluate(const std::string& domain, const std::string& day);
  Status finish();

  Alerting::Result res;
  std::vector<alerts::Alert> to_send;

 private:
  Status apply(const alerts::Finding& f, const std::string& domain, const std::string& day);
  std::expected<std::optional<alerts::LastNotification>, std::string> last_notified(const std::string& domain,
                                                                                     const std::string& kind);
  Status resolve_cleared(const std::string& domain, const std::string& day, const alerts::Evaluation& ev,
                         const std::set<std::string>& present);

  storage::AlertStore& st_;
  const AlertsConfig& cfg_;
  const sys_seconds now_;
  const std::string now_text_;
  std::optional<alerts::AlertBudget> cap_;
  std::int64_t pending_ = 0;                // notices the cap held back, not yet summarised
  std::optional<std::string> last_summary_;  // when the last "N more suppressed" notice went out
  std::string latest_day_;
};

// The cap's state: notifications of the last hour (by served domain and reporter, for
// the shares), and what it held back.
Status AlertPass::start() {
  auto sent = st_.notification_sources(format_rfc3339(now_ - std::chrono::hours(1)));
  if (!sent) return failed(sent);
  cap_.emplace(alerts::BudgetConfig{cfg_.max_per_hour, cfg_.max_per_hour_per_reporter, cfg_.max_per_hour_per_domain,
                                    cfg_.max_per_hour_ceiling});
  for (const auto& n : *sent) cap_->spent(served_domain(n.policy_domain, cfg_.served_domains), n.reporter_ids);
  auto throttle = st_.throttle();
  if (!throttle) return failed(throttle);
  std::tie(pending_, last_summary_) = *throttle;
  return {};
}

// The detectors over one domain's day against its baseline days, each finding
// applied, then the open alerts the day shows cleared resolved.
Status AlertPass::evaluate(const std::string& domain, const std::string& day) {
  auto d = parse_date(day);
  if (!d) return {};
  const std::string since =
      format_date(std::chrono::time_point_cast<std::chrono::seconds>(*d - std::chrono::days(cfg_.baseline_days)));
  auto rows = st_.observations(domain, since, day, cfg_.trust_unauthenticated);
  if (!rows) return failed(rows);
  const alerts::DetectorConfig dcfg{cfg_.failure_ratio, cfg_.min_sessions, cfg_.trust_unauthenticated};
  alerts::Evaluation ev = alerts::evaluate(to_input(domain, day, std::move(*rows)), dcfg);
  ++res.evaluated;
  latest_day_ = std::max(latest_day_, day);
  std::set<std::string> present;
  for (const auto& f : ev.findings) {
    present.insert(f.alert.kind);
    if (auto r = apply(f, domain, day); !r) return r;
  }
  return resolve_cleared(domain, day, ev, present);
}

// One finding: an open alert that lapsed is resolved first; then the lifecycle
// decides whether it opens, stays open, notifies, or is held back.
Status AlertPass::apply(const alerts::Finding& f, const std::string& domain, const std::string& day) {
  auto open = st_.find_open(domain, f.alert.kind);
  if (!open) return failed(open);
  if (*open && alerts::lapsed((**open).last_day, day, cfg_.baseline_days)) {
    if (auto r = st_.resolve((**open).id, std::nullopt, now_text_); !r) return failed(r);
    ++res.resolved;
    open->reset();
  }
  auto last = last_notified(domain, f.alert.kind);
  if (!last) return std::unexpected(last.error());
  const alerts::Decision dec =
      alerts::decide(f, open->has_value(), *last, now_, alerts::LifecycleConfig{cfg_.cooldown, cfg_.stale_after});
  if (dec.action == alerts::Action::ignore) return {};

  const storage::AlertFields fields = to_fields(f.alert);
  std::int64_t id = 0;
  if (*open) {
    id = (**open).id;
    if (auto r = st_.seen_again(id, fields, now_text_); !r) return failed(r);
  } else {
    auto inserted = st_.open_alert(fields, now_text_);
    if (!inserted) return failed(inserted);
    id = *inserted;
    ++res.opened;
  }
  const bool cap_held =
      dec.notify && !cap_->take(served_domain(domain, cfg_.served_domains), f.alert.evidence.reporter_ids);
  if (dec.notify && !cap_held) {
    if (auto r = st_.mark_notified(id, fields.severity, now_text_); !r) return failed(r);
    if (auto r = st_.log_notification(id, now_text_); !r) return failed(r);
    alerts::Alert a = f.alert;
    a.id = id;
    a.notification = dec.notification;
    to_send.push_back(std::move(a));
    ++res.notified;
  } else if (cap_held || (dec.held_back == "cooldown" && !*open)) {
    // Counted when the cap held it, or when a new alert was held by the cooldown
    // of its domain and kind; a still-open alert waiting for its reminder is not news.
    if (auto r = st_.mark_suppressed(id); !r) return failed(r);
    if (cap_held) ++pending_;
    ++res.held_back;
  }
  return {};
}

std::expected<std::optional<alerts::LastNotification>, std::string> AlertPass::last_notified(
    const std::string& domain, const std::string& kind) {
  auto row = st_.last_notification(domain, kind);
  if (!row) return failed(row);
  if (!*row) return std::nullopt;
  auto at = parse_rfc3339((*row)->first);
  if (!at) return std::nullopt;
  auto sev = alerts::severity_from_token((*row)->second);
  return alerts::LastNotification{at->time, sev.value_or(alerts::Severity::critical)};
}

Status AlertPass::resolve_cleared(const std::string& domain, const std::string& day, const alerts::Evaluation& ev,
                                  const std::set<std::string>& present) {
  auto open_alerts = st_.open_for_domain(domain);
  if (!open_alerts) return failed(open_alerts);
  for (const auto& a : *open_alerts) {
    if (present.contains(a.kind) || !alerts::resolves(a.kind, a.last_day, day, ev.clean_kinds)) continue;
    if (auto r = st_.resolve(a.id, std::optional<std::string>(day), now_text_); !r) return failed(r);
    ++res.resolved;
  }
  return {};
}

// The cap's "N more suppressed" notice (at most one per hour, outside the cap), the
// cap's state saved, and notification times older than a day pruned.
Status AlertPass::finish() {
  bool summary_due = pending_ > 0;
  if (summary_due && last_summary_)
    if (auto at = parse_rfc3339(*last_summary_); at && now_ - at->time < std::chrono::hours(1)) summary_due = false;
  if (summary_due) {
    to_send.push_back(alerts::suppressed_notice(static_cast<std::uint64_t>(pending_), cfg_.max_per_hour, latest_day_));
    pending_ = 0;
    last_summary_ = now_text_;
  }
  if (auto r = st_.set_throttle(pending_, last_summary_); !r) return failed(r);
  if (auto r = st_.prune_notifications(format_rfc3339(now_ - std::chrono::hours(24))); !r) return failed(r);
  return {};
}

// The whole evaluation of one batch in one transaction: a crash leaves either all
// of it or none.
Status evaluate_batch(storage::AlertStore& st, AlertPass& pass, const AlertsConfig& cfg,
                      std::span<const std::int64_t> report_ids, bool authenticated) {
  if (auto r = st.begin(); !r) return failed(r);
  if (auto r = st.record_authentication(report_ids, authenticated); !r) return failed(r);
  // Reports that cannot count (unauthenticated, not trusted) change no observation:
  // evaluating would only repeat the last evaluation's answer. Skipping it keeps a
  // flood of unsigned reports from costing a detector run per batch.
  if (authenticated || cfg.trust_unauthenticated) {
    auto pairs = st.affected(report_ids);
    if (!pairs) return failed(pairs);
    if (auto r = pass.start(); !r) return r;
    for (const auto& [domain, day] : *pairs)
      if (auto r = pass.evaluate(domain, day); !r) return r;
    if (auto r = pass.finish(); !r) return r;
  }
  if (auto r = st.clear_pending(report_ids); !r) return failed(r);
  if (auto r = st.commit(); !r) return failed(r);
  return {};
}

// Runs `work` (one transaction of the alert store); an exception is an error like any
// other, and on an error the transaction is rolled back.
template <class Work>
Status guarded(storage::AlertStore& st, Work work) {
  Status done;
  try {
    done = work();
  } catch (const std::exception& e) {
    done = std::unexpected(std::string("internal error: ") + e.what());
  }
  if (!done) st.rollback();
  return done;
}

}  // namespace

Alerting::Result Alerting::after_commit(storage::Db& db, std::span<const std::int64_t> report_ids, bool authenticated,
                                        sys_seconds now) {
  if (report_ids.empty()) return Result{};
  storage::AlertStore st(db);
  AlertPass pass(st, cfg_, now);
  Status done = guarded(st, [&] { return evaluate_batch(st, pass, cfg_, report_ids, authenticated); });
  if (!done) {
    if (log_) log_("alerts: " + done.error() + " (the reports stay stored; no alert was raised for them)");
    Result res;
    res.ok = false;
    return res;
  }
  // Sent only after the state that says "sent" is committed.
  for (const auto& a : pass.to_send) dispatcher_.dispatch(a);
  return pass.res;
}

namespace {

// The days of each domain an archive's evaluation looks at: every day not stale, and
// the domain's latest day (its current state) even when that is stale too.
std::vector<std::pair<std::string, std::string>> archive_pairs(
    const std::vector<std::pair<std::string, std::string>>& pairs, sys_seconds now, std::chrono::seconds stale_after) {
  std::map<std::string, std::vector<std::string>> days;  // domain -> days, in day order (pairs are)
  for (const auto& [domain, day] : pairs) days[domain].push_back(day);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [domain, list] : days)
    for (std::size_t i = 0; i < list.size(); ++i)
      if (i + 1 == list.size() || !alerts::is_stale(list[i], now, stale_after)) out.emplace_back(domain, list[i]);
  return out;
}

// Pairs evaluated in one transaction of an archive's evaluation: short enough that a
// running `serve` on the same database waits little for the write lock.
constexpr std::size_t kArchivePairsPerTransaction = 64;

}  // namespace

Alerting::Result Alerting::after_import(storage::Db& db, std::span<const std::int64_t> report_ids, sys_seconds now) {
  Result total;
  if (report_ids.empty()) return total;
  storage::AlertStore st(db);
  // Read-only: the store recorded the reports' authentication (import: authenticated)
  // when it stored them, or raised it when a later copy vouched for them.
  auto affected = st.affected(report_ids);
  if (!affected) {
    if (log_) log_("alerts: " + affected.error().message + " (the reports stay stored; no alert was raised for them)");
    total.ok = false;
    return total;
  }
  const auto pairs = archive_pairs(*affected, now, cfg_.stale_after);
  // Groups of whole domains, so one domain's days are evaluated in one pass in order.
  std::size_t begin = 0;
  while (begin < pairs.size()) {
    std::size_t end = begin;
    while (end < pairs.size() && (end - begin < kArchivePairsPerTransaction || pairs[end].first == pairs[end - 1].first))
      ++end;
    AlertPass pass(st, cfg_, now);
    Status group = guarded(st, [&]() -> Status {
      if (auto r = st.begin(); !r) return failed(r);
      if (auto r = pass.start(); !r) return r;
      for (std::size_t i = begin; i < end; ++i)
        if (auto r = pass.evaluate(pairs[i].first, pairs[i].second); !r) return r;
      if (auto r = pass.finish(); !r) return r;
      if (auto r = st.commit(); !r) return failed(r);
      return {};
    });
    if (!group) {
      if (log_) log_("alerts: " + group.error() + " (the reports stay stored; alerts for " + pairs[begin].first +
                     (end - begin > 1 ? " and others" : "") + " were not evaluated)");
      total.ok = false;
    } else {
      for (const auto& a : pass.to_send) dispatcher_.dispatch(a);
      total.evaluated += pass.res.evaluated;
      total.opened += pass.res.opened;
      total.notified += pass.res.notified;
      total.held_back += pass.res.held_back;
      total.resolved += pass.res.resolved;
    }
    begin = end;
  }
  // Only now are these reports evaluated: a crash before this leaves them pending,
  // evaluated again by the next run (an evaluation repeated changes nothing but the
  // alerts' seen counts).
  if (total.ok) {
    Status cleared = guarded(st, [&]() -> Status {
      if (auto r = st.begin(); !r) return failed(r);
      if (auto r = st.clear_pending(report_ids); !r) return failed(r);
      if (auto r = st.commit(); !r) return failed(r);
      return {};
    });
    if (!cleared) {
      if (log_) log_("alerts: " + cleared.error() + " (the reports stay pending: the next run evaluates them again)");
      total.ok = false;
    }
  }
  return total;
}

Alerting::Result AlertingSlot::after_commit(storage::Db& db, std::span<const std::int64_t> report_ids,
                                            bool authenticated) {
  // Loaded under the lock: once retire() has taken it, no batch can still pick up
  // the Alerting it retires.
  std::lock_guard lock(evaluating_);
  return current_.load()->after_commit(db, report_ids, authenticated);
}

bool AlertingSlot::retire(std::shared_ptr<Alerting> old, std::chrono::milliseconds deadline) {
  { std::lock_guard wait_for_batch(evaluating_); }
  return old->shutdown(deadline);
}

}  // namespace tlsrpt::daemon
