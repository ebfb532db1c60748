// The alert hook: storage rows -> detector input -> findings -> lifecycle -> sinks.
// Everything it decides is in alerts/ (detectors, lifecycle rules); everything it
// stores is in storage/alert_store. This file only connects them.
#include "daemon/intake/alerting.hpp"

#include <unistd.h>

#include <fstream>
#include <map>
#include <set>

#include "alerts/detectors.hpp"
#include "alerts/lifecycle.hpp"
#include "alerts/sinks/email_sink.hpp"
#include "alerts/sinks/file_sink.hpp"
#include "alerts/sinks/log_sink.hpp"
#include "alerts/sinks/webhook_sink.hpp"
#include "parser/datetime.hpp"
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

Alerting::Result Alerting::after_commit(storage::Db& db, std::span<const std::int64_t> report_ids, bool authenticated,
                                        sys_seconds now) {
  Result res;
  if (report_ids.empty()) return res;
  storage::AlertStore st(db);
  std::vector<alerts::Alert> to_send;
  auto fail = [&](const std::string& what) {
    st.rollback();
    if (log_) log_("alerts: " + what + " (the reports stay stored; no alert was raised for them)");
    res = Result{};
    res.ok = false;
    return res;
  };
  // One transaction: a crash leaves either the whole evaluation or none of it.
  try {
    if (auto r = st.begin(); !r) return fail(r.error().message);
    if (auto r = st.record_authentication(report_ids, authenticated); !r) return fail(r.error().message);
    // Reports that cannot count (unauthenticated, not trusted) change no observation:
    // evaluating would only repeat the last evaluation's answer. Skipping it keeps a
    // flood of unsigned reports from costing a detector run per batch.
    if (!authenticated && !cfg_.trust_unauthenticated) {
      if (auto r = st.commit(); !r) return fail(r.error().message);
      return res;
    }
    auto pairs = st.affected(report_ids);
    if (!pairs) return fail(pairs.error().message);

    const std::string now_text = format_rfc3339(now);
    auto sent = st.notifications_since(format_rfc3339(now - std::chrono::hours(1)));
    if (!sent) return fail(sent.error().message);
    alerts::HourlyCap cap(cfg_.max_per_hour, *sent);
    auto throttle = st.throttle();
    if (!throttle) return fail(throttle.error().message);
    auto [pending, last_summary] = *throttle;

    const alerts::DetectorConfig dcfg{cfg_.failure_ratio, cfg_.min_sessions, cfg_.trust_unauthenticated};
    const alerts::LifecycleConfig lcfg{cfg_.cooldown, cfg_.stale_after};
    std::string latest_day;

    for (const auto& [domain, day] : *pairs) {
      auto d = parse_date(day);
      if (!d) continue;
      const std::string since = format_date(std::chrono::time_point_cast<std::chrono::seconds>(
          *d - std::chrono::days(cfg_.baseline_days)));
      auto rows = st.observations(domain, since, day, cfg_.trust_unauthenticated);
      if (!rows) return fail(rows.error().message);
      alerts::Evaluation ev = alerts::evaluate(to_input(domain, day, std::move(*rows)), dcfg);
      ++res.evaluated;
      latest_day = std::max(latest_day, day);

      std::set<std::string> present;
      for (auto& f : ev.findings) {
        present.insert(f.alert.kind);
        auto open = st.find_open(domain, f.alert.kind);
        if (!open) return fail(open.error().message);
        if (*open && alerts::lapsed((**open).last_day, day, cfg_.baseline_days)) {
          if (auto r = st.resolve((**open).id, std::nullopt, now_text); !r) return fail(r.error().message);
          ++res.resolved;
          open->reset();
        }
        auto last_row = st.last_notification(domain, f.alert.kind);
        if (!last_row) return fail(last_row.error().message);
        std::optional<alerts::LastNotification> last;
        if (*last_row) {
          auto at = parse_rfc3339((*last_row)->first);
          auto sev = alerts::severity_from_token((*last_row)->second);
          if (at) last = alerts::LastNotification{at->time, sev.value_or(alerts::Severity::critical)};
        }
        alerts::Decision dec = alerts::decide(f, open->has_value(), last, now, lcfg);
        if (dec.action == alerts::Action::ignore) continue;

        const storage::AlertFields fields = to_fields(f.alert);
        std::int64_t id = 0;
        if (*open) {
          id = (**open).id;
          if (auto r = st.seen_again(id, fields, now_text); !r) return fail(r.error().message);
        } else {
          auto inserted = st.open_alert(fields, now_text);
          if (!inserted) return fail(inserted.error().message);
          id = *inserted;
          ++res.opened;
        }
        const bool cap_held = dec.notify && !cap.take();
        if (dec.notify && !cap_held) {
          if (auto r = st.mark_notified(id, fields.severity, now_text); !r) return fail(r.error().message);
          if (auto r = st.log_notification(id, now_text); !r) return fail(r.error().message);
          alerts::Alert a = f.alert;
          a.id = id;
          a.notification = dec.notification;
          to_send.push_back(std::move(a));
          ++res.notified;
        } else if (cap_held || (dec.held_back == "cooldown" && !*open)) {
          // Counted when the cap held it, or when a new alert was held by the cooldown
          // of its domain and kind; a still-open alert waiting for its reminder is not news.
          if (auto r = st.mark_suppressed(id); !r) return fail(r.error().message);
          if (cap_held) ++pending;
          ++res.held_back;
        }
      }

      auto open_alerts = st.open_for_domain(domain);
      if (!open_alerts) return fail(open_alerts.error().message);
      for (const auto& a : *open_alerts) {
        if (present.contains(a.kind) || !alerts::resolves(a.kind, a.last_day, day, ev.clean_kinds)) continue;
        if (auto r = st.resolve(a.id, std::optional<std::string>(day), now_text); !r) return fail(r.error().message);
        ++res.resolved;
      }
    }

    // The cap's "N more suppressed" notice: at most one per hour, outside the cap.
    bool summary_due = pending > 0;
    if (summary_due && last_summary)
      if (auto at = parse_rfc3339(*last_summary); at && now - at->time < std::chrono::hours(1)) summary_due = false;
    if (summary_due) {
      to_send.push_back(alerts::suppressed_notice(static_cast<std::uint64_t>(pending), cfg_.max_per_hour, latest_day));
      pending = 0;
      last_summary = now_text;
    }
    if (auto r = st.set_throttle(pending, last_summary); !r) return fail(r.error().message);
    if (auto r = st.prune_notifications(format_rfc3339(now - std::chrono::hours(24))); !r)
      return fail(r.error().message);
    if (auto r = st.commit(); !r) return fail(r.error().message);
  } catch (const std::exception& e) {
    return fail(std::string("internal error: ") + e.what());
  }
  // Sent only after the state that says "sent" is committed.
  for (const auto& a : to_send) dispatcher_.dispatch(a);
  return res;
}

}  // namespace tlsrpt::daemon
