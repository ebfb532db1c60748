#include "daemon/metrics.hpp"

#include <charconv>
#include <cmath>

namespace tlsrpt::daemon {
namespace {

void append_number(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Prometheus label value escaping: backslash, double quote and line feed.
void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

std::string label_key(Labels labels) {
  std::string s;
  for (const auto& [k, v] : labels) {
    if (!s.empty()) s += ',';
    s += k;
    s += "=\"";
    append_label_value(s, v.substr(0, 256));
    s += '"';
  }
  return s;
}

void atomic_add(std::atomic<double>& a, double d) {
  double old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, old + d, std::memory_order_relaxed)) {
  }
}

}  // namespace

Metrics::Metrics() {
  const std::vector<double> latency{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  define("tlsrptd_reports_total", "Report submissions by channel and outcome (stored, duplicate, conflict, rejected) and reject reason.",
         Kind::counter);
  define("tlsrptd_sessions_total",
         "TLS sessions reported in stored reports, by served domain (label policy_domain: the domains entry a policy "
         "domain falls under, or its organizational domain when domains is empty) and result (successful, failed).",
         Kind::counter);
  define("tlsrptd_http_requests_total", "HTTP requests answered, by listener and status code.", Kind::counter);
  define("tlsrptd_http_request_duration_seconds", "Time from the request's first byte to the end of the response.",
         Kind::histogram, latency);
  define("tlsrptd_store_commit_duration_seconds", "Duration of one store transaction (group commit, fsync included).",
         Kind::histogram, latency);
  define("tlsrptd_store_batch_reports", "Reports per store transaction.", Kind::histogram,
         {1, 2, 4, 8, 16, 32, 64, 128, 256});
  define("tlsrptd_store_errors_total", "Failed store transactions, by SQLite error.", Kind::counter);
  define("tlsrptd_budget_refusals_total",
         "Submissions refused because their client's unauthenticated bytes today passed "
         "limits.max_unauthenticated_bytes_per_client, by channel.",
         Kind::counter);
  define("tlsrptd_disk_free_bytes", "Free bytes on the database's filesystem at the last commit round.", Kind::gauge);
  define("tlsrptd_disk_low", "1 while the database's filesystem is below limits.min_free_disk (reports refused).",
         Kind::gauge);
  define("tlsrptd_open_connections", "Connections currently open, by listener.", Kind::gauge);
  define("tlsrptd_connections_total", "Connections accepted, by listener.", Kind::counter);
  define("tlsrptd_connections_refused_total",
         "Connections closed at accept (SMTP: after a 421 4.7.0), by listener and reason (max_connections, "
         "max_connections_per_client).",
         Kind::counter);
  define("tlsrptd_connections_evicted_total",
         "Idle connections closed to make room at max_connections (HTTPS: no request yet; SMTP: no MAIL FROM, "
         "told 421 4.7.0), by listener.",
         Kind::counter);
  define("tlsrptd_requests_refused_total",
         "Requests answered 503 before their body was read, by listener and reason (max_body_bytes_per_client, "
         "max_body_bytes_in_flight).",
         Kind::counter);
  define("tlsrptd_request_bodies_cut_total",
         "Request bodies cut while being read (503, closed) to make room in a full body budget for a client "
         "holding less, by listener.",
         Kind::counter);
  define("tlsrptd_tls_handshake_failures_total", "TLS handshakes that failed or timed out, by listener.", Kind::counter);
  define("tlsrptd_timeouts_total", "Connections closed by a deadline, by listener and phase.", Kind::counter);
  define("tlsrptd_bytes_in_flight", "Request body bytes reserved by requests being read.", Kind::gauge);
  define("tlsrptd_inspect_requests_total",
         "Inspection requests by result (HTTP status, rate-limited, busy: refused at admission, expired: waited "
         "past inspect.timeout in the queue); never by domain.",
         Kind::counter);
  define("tlsrptd_inspect_running", "Inspections running on the inspection threads.", Kind::gauge);
  define("tlsrptd_inspect_queued", "Inspections admitted and waiting for an inspection thread.", Kind::gauge);
  define("tlsrptd_start_time_seconds", "Unix time the daemon started.", Kind::gauge);
}

void Metrics::define(std::string name, std::string help, Kind kind, std::vector<double> bounds) {
  auto f = std::make_unique<Family>();
  f->name = name;
  f->help = std::move(help);
  f->kind = kind;
  f->bounds = std::move(bounds);
  families_.emplace(std::move(name), std::move(f));
}

Metrics::Series& Metrics::series(std::string_view family, Labels labels) {
  auto it = families_.find(family);
  if (it == families_.end()) {
    // A programming error: every family is defined in the constructor.
    static Series sink;
    return sink;
  }
  Family& f = *it->second;
  std::string key = label_key(labels);
  std::lock_guard lock(f.mu);
  auto s = f.series.find(key);
  if (s != f.series.end()) return *s->second;
  if (f.series.size() >= kMaxSeries) key = "overflow=\"true\"";
  auto& slot = f.series[key];
  if (!slot) {
    slot = std::make_unique<Series>();
    if (f.kind == Kind::histogram) slot->buckets = std::vector<std::atomic<std::uint64_t>>(f.bounds.size());
  }
  return *slot;
}

void Metrics::inc(std::string_view family, Labels labels, double by) { atomic_add(series(family, labels).value, by); }
void Metrics::add(std::string_view family, Labels labels, double delta) { atomic_add(series(family, labels).value, delta); }
void Metrics::set(std::string_view family, Labels labels, double value) {
  series(family, labels).value.store(value, std::memory_order_relaxed);
}
void Metrics::observe(std::string_view family, Labels labels, double value) {
  auto it = families_.find(family);
  if (it == families_.end()) return;
  Series& s = series(family, labels);
  const auto& bounds = it->second->bounds;
  for (std::size_t i = 0; i < bounds.size() && i < s.buckets.size(); ++i)
    if (value <= bounds[i]) {
      s.buckets[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  s.count.fetch_add(1, std::memory_order_relaxed);
  atomic_add(s.value, value);
}

std::string Metrics::render() const {
  std::string out;
  for (const auto& [name, fp] : families_) {
    const Family& f = *fp;
    std::lock_guard lock(f.mu);
    if (f.series.empty()) continue;
    out += "# HELP " + f.name + " " + f.help + "\n";
    out += "# TYPE " + f.name + " " + (f.kind == Kind::counter ? "counter" : f.kind == Kind::gauge ? "gauge" : "histogram") + "\n";
    for (const auto& [labels, s] : f.series) {
      if (f.kind != Kind::histogram) {
        out += f.name;
        if (!labels.empty()) out += "{" + labels + "}";
        out += ' ';
        append_number(out, s->value.load(std::memory_order_relaxed));
        out += '\n';
        continue;
      }
      std::uint64_t cumulative = 0;
      auto bucket_line = [&](std::string_view le, std::uint64_t n) {
        out += f.name + "_bucket{" + labels + (labels.empty() ? "" : ",") + "le=\"" + std::string(le) + "\"} " +
               std::to_string(n) + "\n";
      };
      for (std::size_t i = 0; i < f.bounds.size(); ++i) {
        cumulative += s->buckets[i].load(std::memory_order_relaxed);
        std::string le;
        append_number(le, f.bounds[i]);
        bucket_line(le, cumulative);
      }
      const std::uint64_t count = s->count.load(std::memory_order_relaxed);
      bucket_line("+Inf", count);
      std::string lbl = labels.empty() ? "" : "{" + labels + "}";
      out += f.name + "_sum" + lbl + " ";
      append_number(out, s->value.load(std::memory_order_relaxed));
      out += "\n" + f.name + "_count" + lbl + " " + std::to_string(count) + "\n";
    }
  }
  return out;
}

Metrics& metrics() {
  static Metrics m;
  return m;
}

}  // namespace tlsrpt::daemon
