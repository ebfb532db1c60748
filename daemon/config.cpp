// The parameter table and the TOML loader built on it. Adding a parameter means
// adding one row below; the loader, `config defaults` and the docs follow.
#include "daemon/config.hpp"

#include "alerts/sinks/email_sink.hpp"

#include <toml++/toml.h>

#include <algorithm>

#include "daemon/net/client_key.hpp"
#include "parser/domain.hpp"
#include "record/dns_resolver.hpp"

#include <cctype>
#include <filesystem>
#include <tuple>
#include <map>
#include <sstream>

namespace tlsrpt::daemon {
namespace {

struct Param {
  std::string_view key;
  std::string_view type;
  std::string_view default_toml;
  std::string_view doc;
  // Applies a TOML value; returns an error message (lower case) when it does not fit.
  std::function<std::optional<std::string>(Config&, const toml::node&)> apply;
};

// "2MiB", "512 KiB", 1048576 -> bytes; "10s", "250ms", "5m", 10 -> duration.
std::expected<std::size_t, std::string> parse_size(const toml::node& n);
std::expected<std::chrono::milliseconds, std::string> parse_duration(const toml::node& n);
const std::vector<Param>& param_table();

using Apply = std::function<std::optional<std::string>(Config&, const toml::node&)>;

std::optional<std::string> type_error(std::string_view want, const toml::node& n) {
  return "expected " + std::string(want) + ", got " + std::string(toml::impl::node_type_friendly_names[static_cast<int>(n.type())]);
}

template <class Get>
Apply string_value(Get get) {
  return [get](Config& c, const toml::node& n) -> std::optional<std::string> {
    auto v = n.value<std::string>();
    if (!v || !n.is_string()) return type_error("a string", n);
    get(c) = *v;
    return std::nullopt;
  };
}

template <class Get>
Apply string_list(Get get, std::function<std::optional<std::string>(const std::string&)> check = {}) {
  return [get, check](Config& c, const toml::node& n) -> std::optional<std::string> {
    const auto* arr = n.as_array();
    if (!arr) return type_error("an array of strings", n);
    std::vector<std::string> out;
    for (const auto& el : *arr) {
      auto v = el.value<std::string>();
      if (!v || !el.is_string()) return type_error("an array of strings", n);
      if (check)
        if (auto err = check(*v)) return err;
      out.push_back(*v);
    }
    get(c) = std::move(out);
    return std::nullopt;
  };
}

// A list of addresses, each kept in its canonical form (the one peers are compared
// with); a spelling that differs is noted for `config check`.
using Canonical = std::function<std::expected<std::string, std::string>(const std::string&)>;
template <class Get>
Apply address_list(std::string_view key, Get get, Canonical canonical) {
  return [key, get, canonical](Config& c, const toml::node& n) -> std::optional<std::string> {
    const auto* arr = n.as_array();
    if (!arr) return type_error("an array of strings", n);
    std::vector<std::string> out;
    for (const auto& el : *arr) {
      auto v = el.value<std::string>();
      if (!v || !el.is_string()) return type_error("an array of strings", n);
      auto canon = canonical(*v);
      if (!canon) return "\"" + *v + "\" " + canon.error();
      if (*canon != *v) c.notes.push_back(std::string(key) + ": \"" + *v + "\" is " + *canon);
      out.push_back(*canon);
    }
    get(c) = std::move(out);
    return std::nullopt;
  };
}

template <class Get>
Apply size_value(Get get, std::size_t min, std::size_t max) {
  return [get, min, max](Config& c, const toml::node& n) -> std::optional<std::string> {
    auto v = parse_size(n);
    if (!v) return v.error();
    if (*v < min || *v > max)
      return "must be between " + std::to_string(min) + " and " + std::to_string(max);
    get(c) = *v;
    return std::nullopt;
  };
}

template <class Get>
Apply count_value(Get get, std::int64_t min, std::int64_t max) {
  return [get, min, max](Config& c, const toml::node& n) -> std::optional<std::string> {
    auto v = n.value<std::int64_t>();
    if (!v || !n.is_integer()) return type_error("an integer", n);
    if (*v < min || *v > max) return "must be between " + std::to_string(min) + " and " + std::to_string(max);
    get(c) = static_cast<std::remove_reference_t<decltype(get(c))>>(*v);
    return std::nullopt;
  };
}

std::string duration_text(std::chrono::milliseconds d) {
  return d.count() % 1000 ? std::to_string(d.count()) + "ms" : std::to_string(d.count() / 1000) + "s";
}

// "[::FFFF:127.0.0.1]:8443" -> "127.0.0.1:8443"; "[2001:DB8::1]:25" -> "[2001:db8::1]:25".
std::expected<std::string, std::string> canonical_listen(const std::string& a) {
  auto hp = parse_listen_address(a);
  auto ip = hp && hp->first.find('%') == std::string::npos ? canonical_address(hp->first) : std::nullopt;
  if (!ip) return std::unexpected("is not an address:port (e.g. \"127.0.0.1:8443\" or \"[::1]:8443\")");
  const std::string host = ip->is_v6() ? "[" + ip->to_string() + "]" : ip->to_string();
  return host + ":" + std::to_string(hp->second);
}

std::expected<std::string, std::string> canonical_range(const std::string& text) {
  auto r = parse_address_range(text);
  if (!r) return std::unexpected(r.error());
  return r->str();
}

std::optional<std::string> dns_server_check(const std::string& s) {
  if (auto v = record::parse_dns_server(s); !v) return v.error();
  return std::nullopt;
}

std::optional<std::string> domain_check(const std::string& d) {
  if (d.empty() || d.find_first_of(" \t;,/") != std::string::npos) return "\"" + d + "\" is not a domain name";
  return std::nullopt;
}

template <class Get>
Apply duration_value(Get get, std::chrono::milliseconds min, std::chrono::milliseconds max) {
  return [get, min, max](Config& c, const toml::node& n) -> std::optional<std::string> {
    auto v = parse_duration(n);
    if (!v) return v.error();
    if (*v < min || *v > max)
      return "must be between " + duration_text(min) + " and " + duration_text(max);
    using T = std::remove_reference_t<decltype(get(c))>;
    get(c) = std::chrono::duration_cast<T>(*v);
    return std::nullopt;
  };
}

template <class Get>
Apply bool_value(Get get) {
  return [get](Config& c, const toml::node& n) -> std::optional<std::string> {
    auto v = n.value<bool>();
    if (!v || !n.is_boolean()) return type_error("true or false", n);
    get(c) = *v;
    return std::nullopt;
  };
}

template <class Get>
Apply ratio_value(Get get) {
  return [get](Config& c, const toml::node& n) -> std::optional<std::string> {
    auto v = n.value<double>();
    if (!v || !(n.is_floating_point() || n.is_integer())) return type_error("a number", n);
    if (!(*v > 0.0 && *v <= 1.0)) return "must be above 0 and at most 1 (0.05 is 5%)";
    get(c) = *v;
    return std::nullopt;
  };
}

std::vector<Param> build_table() {
  std::vector<Param> t;
  auto add = [&](std::string_view key, std::string_view type, std::string_view def, std::string_view doc, Apply a) {
    t.push_back(Param{key, type, def, doc, std::move(a)});
  };
  add("database", "string", R"("var/tlsrptd.sqlite")",
      "SQLite database file; a relative path is relative to the working directory. Created by `serve` and "
      "`report import` on first use; read-only commands never create it.",
      string_value([](Config& c) -> std::string& { return c.database; }));
  add("domains", "string array", "[]",
      "Policy domains served, on every channel. Policies for other domains are kept in the raw report but not "
      "counted; a report with nothing for a served domain is refused (HTTPS 422, SMTP 550 5.7.1). Empty serves "
      "every domain.",
      [](Config& c, const toml::node& n) -> std::optional<std::string> {
        auto err = string_list([](Config& cfg) -> std::vector<std::string>& { return cfg.domains; }, domain_check)(c, n);
        c.alerts.served_domains.clear();  // the alert shares' served domains, normalised
        for (const auto& d : c.domains) c.alerts.served_domains.push_back(normalize_domain(d).value_or(ascii_lower(d)));
        return err;
      });

  add("user", "string", R"("")",
      "Drop privileges to this user after binding the listeners. tlsrptd refuses to run as root without it. "
      "Database files root made (an admin command run as root before the daemon's first start) are handed to "
      "this user first (plain files only, never through a link); a database folder this user cannot write is "
      "refused at startup with the `chown` to run.",
      string_value([](Config& c) -> std::string& { return c.user; }));
  add("log_level", "string", R"("info")", "Least severe log level written: error, warning, notice, info or debug.",
      [](Config& c, const toml::node& n) -> std::optional<std::string> {
        auto v = n.value<std::string>();
        if (!v || !n.is_string()) return type_error("a string", n);
        if (*v != "error" && *v != "warning" && *v != "notice" && *v != "info" && *v != "debug")
          return "must be error, warning, notice, info or debug";
        c.log_level = *v;
        return std::nullopt;
      });
  add("shutdown_timeout", "duration", R"("10s")",
      "On SIGTERM: how long requests in flight may take to finish before the daemon exits.",
      duration_value([](Config& c) -> Millis& { return c.shutdown_timeout; }, Millis{0}, Millis{600000}));

  using namespace std::chrono_literals;
  auto https_ms = [&](std::string_view key, std::string_view def, std::string_view doc, Millis HttpsConfig::*field) {
    add(key, "duration", def, doc,
        duration_value([field](Config& c) -> Millis& { return c.https.*field; }, Millis{100}, Millis{3600000}));
  };
  auto https_size = [&](std::string_view key, std::string_view type, std::string_view def, std::string_view doc,
                        std::size_t HttpsConfig::*field, std::size_t min, std::size_t max) {
    if (type == "size")
      add(key, type, def, doc, size_value([field](Config& c) -> std::size_t& { return c.https.*field; }, min, max));
    else
      add(key, type, def, doc,
          count_value([field](Config& c) -> std::size_t& { return c.https.*field; }, static_cast<std::int64_t>(min),
                      static_cast<std::int64_t>(max)));
  };
  add("https.listen", "string array", R"(["127.0.0.1:8443"])",
      "Addresses for the RFC 8460 §5.4 HTTPS endpoint, IPv4 or IPv6 (\"[::]:443\"). Sockets passed by systemd "
      "(FileDescriptorName=https) replace these.",
      address_list("https.listen", [](Config& c) -> std::vector<std::string>& { return c.https.listen; },
                   canonical_listen));
  add("https.certificate", "string", R"("var/tls/cert.pem")",
      "PEM certificate chain. When neither it nor the key exists, a self-signed pair is generated there.",
      string_value([](Config& c) -> std::string& { return c.https.certificate; }));
  add("https.private_key", "string", R"("var/tls/key.pem")", "PEM private key of the certificate.",
      string_value([](Config& c) -> std::string& { return c.https.private_key; }));
  add("https.path", "string", R"("/")", "The POST path: the path of your rua=https:// URI. Ending in / (e.g. \"/v1/\"), it also takes "
      "POST /v1/<domain>, whose domain attributes policies that name none.",
      [](Config& c, const toml::node& n) -> std::optional<std::string> {
        auto v = n.value<std::string>();
        if (!v || !n.is_string()) return type_error("a string", n);
        if (v->empty() || (*v)[0] != '/' || v->find_first_of("?# ") != std::string::npos)
          return "must be a path starting with / (no query or fragment)";
        c.https.path = *v;
        return std::nullopt;
      });
  add("https.threads", "integer", "0", "Network threads; 0 means one per CPU.",
      count_value([](Config& c) -> unsigned& { return c.https.threads; }, 0, 256));
  https_ms("https.handshake_timeout", R"("10s")", "Deadline for the TLS handshake after accept.",
           &HttpsConfig::handshake_timeout);
  https_ms("https.header_timeout", R"("10s")", "Deadline for a request's whole header block (slowloris).",
           &HttpsConfig::header_timeout);
  https_ms("https.request_timeout", R"("30s")",
           "Deadline for the rest of a request after its header (the body), however slowly it trickles.",
           &HttpsConfig::request_timeout);
  https_ms("https.idle_timeout", R"("15s")", "How long a keep-alive connection may wait for its next request.",
           &HttpsConfig::idle_timeout);
  https_ms("https.write_timeout", R"("30s")", "Deadline for writing a response.", &HttpsConfig::write_timeout);
  https_ms("https.retry_after", R"("60s")", "Retry-After sent with 503 when storage cannot commit or the daemon is full.",
           &HttpsConfig::retry_after);
  https_size("https.max_connections", "integer", "1024", "Open connections at most; more are closed at accept.",
             &HttpsConfig::max_connections, 1, 1000000);
  https_size("https.max_connections_per_client", "integer", "32",
             "Open connections per client IPv4 address or IPv6 /64; more are closed at accept.",
             &HttpsConfig::max_connections_per_client, 1, 1000000);
  https_size("https.max_header_bytes", "size", R"("16KiB")", "Largest request header block (431 beyond).",
             &HttpsConfig::max_header_bytes, 1024, 1024 * kKiB);
  https_size("https.max_requests_per_connection", "integer", "1000", "Requests served on one keep-alive connection.",
             &HttpsConfig::max_requests_per_connection, 1, 1000000);
  https_size("https.max_body_bytes_in_flight", "size", R"("64MiB")",
             "Request body bytes all connections together may hold while reading. When full, a client holding "
             "less gets room: the slowest body of the client holding the most is cut (503, closed), as long as "
             "that client, after the cut, still holds at least as much as the newcomer then holds (equal "
             "holdings: no cut); a complete body is never cut; otherwise 503.",
             &HttpsConfig::max_body_bytes_in_flight, 64 * kKiB, 64 * 1024 * kMiB);
  https_size("https.max_body_bytes_per_client", "size", R"("8MiB")",
             "The share of max_body_bytes_in_flight one client (IPv4 address or IPv6 /64) may hold; one request "
             "is always let in. Beyond, 503.",
             &HttpsConfig::max_body_bytes_per_client, 64 * kKiB, 64 * 1024 * kMiB);

  add("admin.listen", "string array", R"(["127.0.0.1:9464"])",
      "Plain-HTTP admin listener for GET /metrics (Prometheus) and GET /healthz (which the HTTPS listener does not "
      "answer). An address other than loopback needs admin.password_file, else `serve` refuses to start; [] "
      "disables it.",
      address_list("admin.listen", [](Config& c) -> std::vector<std::string>& { return c.admin.listen; },
                   canonical_listen));
  add("admin.password_file", "string", R"("")",
      "HTTP basic authentication for every admin request (Prometheus basic_auth): a file of `user:hash` lines, "
      "the hash from `mkpasswd -m yescrypt` or `openssl passwd -6`, read at startup. Without valid credentials: "
      "401. Failed attempts: 10 a minute per IPv4 address or IPv6 /64 (a burst of 10, then one every 6 s); "
      "beyond, 429 without trying the password. Empty: no authentication (loopback only).",
      string_value([](Config& c) -> std::string& { return c.admin.password_file; }));
  add("admin.max_password_checks", "integer", "4",
      "Password checks (one hash each, on one thread of their own, never a network thread) running or waiting "
      "at once; beyond, 503 with Retry-After at once, no hash. Credentials that passed before need no hash.",
      size_value([](Config& c) -> std::size_t& { return c.admin.max_password_checks; }, 1, 1024));
  add("admin.max_failures_per_minute", "integer", "60",
      "Wrong passwords from all clients together (a burst of this many, then one every 60/n s); beyond, 429 "
      "without trying the password, however many addresses they come from. Credentials that passed before "
      "still pass.",
      size_value([](Config& c) -> std::size_t& { return c.admin.max_failures_per_minute; }, 1, 100000));

  add("store.commit_delay", "duration", R"("1ms")",
      "Group commit: after the first report arrives, wait this long for others to share its transaction.",
      duration_value([](Config& c) -> Millis& { return c.store.commit_delay; }, Millis{0}, Millis{1000}));
  add("store.max_batch", "integer", "256", "Most reports in one transaction.",
      count_value([](Config& c) -> std::size_t& { return c.store.max_batch; }, 1, 100000));
  add("store.busy_timeout", "duration", R"("5s")",
      "How long a commit waits for a database locked by another process before senders get 503.",
      duration_value([](Config& c) -> Millis& { return c.store.busy_timeout; }, Millis{0}, Millis{600000}));

  add("limits.max_submission_bytes", "size", R"("2MiB")",
      "Largest report as submitted (an HTTPS body, a mail attachment, a file), compressed or not.",
      size_value([](Config& c) -> std::size_t& { return c.limits.max_submission_bytes; }, 1024, 1024 * kMiB));
  add("limits.max_report_bytes", "size", R"("16MiB")",
      "Largest report JSON after gunzip; a gzip bomb is stopped here.",
      size_value([](Config& c) -> std::size_t& { return c.limits.max_report_bytes; }, 1024, 1024 * kMiB));
  add("limits.max_inflate_ratio", "integer", "200",
      "Largest decompressed/compressed ratio once the output passes 1 MiB.",
      count_value([](Config& c) -> std::size_t& { return c.limits.max_inflate_ratio; }, 2, 100000));
  add("limits.max_policies", "integer", "1000", "Most policies in one report.",
      count_value([](Config& c) -> std::size_t& { return c.limits.max_policies; }, 1, 1000000));
  add("limits.max_failure_details", "integer", "10000", "Most failure-details in one report (all policies).",
      count_value([](Config& c) -> std::size_t& { return c.limits.max_failure_details; }, 1, 10000000));
  add("limits.max_sessions_per_report", "integer", "1000000000000",
      "Most sessions (successful plus failed, summed over its policies) one report may count, and most failed "
      "sessions its failure-details may count (summed on their own); beyond, it is refused (HTTPS 400, SMTP 554 "
      "5.6.0). Each count may be up to 2^53-1, so without it two reports could push a domain's totals to the "
      "64-bit limit.",
      count_value([](Config& c) -> unsigned long long& { return c.limits.max_sessions_per_report; }, 1,
                  std::int64_t{1} << 60));
  add("limits.max_json_depth", "integer", "32", "Deepest JSON nesting accepted (a report needs 6).",
      count_value([](Config& c) -> std::size_t& { return c.limits.max_json_depth; }, 8, 1024));
  add("limits.max_stored_text_bytes", "size", R"("256B")",
      "Longest string of a failure-detail (additional-information, failure-reason-code, host names ...) kept in "
      "the database's rows; longer ones are stored cut, with a data-quality note (real ones stay under 160 "
      "bytes). The raw submission keeps the original.",
      size_value([](Config& c) -> std::size_t& { return c.limits.max_stored_text_bytes; }, 64, 64 * kKiB));
  add("limits.max_stored_text_ratio", "integer", "4",
      "Text the rows of one report keep (policy strings, mx hosts, failure-detail strings), as a multiple of the "
      "submission's bytes (at least 64 strings of max_stored_text_bytes). Beyond, the rest is left out of the "
      "rows, noted; failure-details identical but for their count are one row. Bounds the database's growth by "
      "what was uploaded.",
      count_value([](Config& c) -> std::size_t& { return c.limits.max_stored_text_ratio; }, 1, 1000));
  add("limits.max_unauthenticated_bytes_per_client", "size", R"("64MiB")",
      "Bytes one client (IPv4 address or IPv6 /64) may submit per UTC day without authentication (HTTPS, and "
      "SMTP/LMTP mail without an aligned DKIM pass); beyond, 429 with Retry-After (to 00:00 UTC) or 451 4.7.0, "
      "nothing stored. A reporter sends one report (1-30 KB, at most max_submission_bytes) per policy domain a "
      "day, so 64 MiB is thousands of domains' worth. Maildir and import are not budgeted; 0 turns it off.",
      size_value([](Config& c) -> std::size_t& { return c.limits.max_unauthenticated_bytes_per_client; }, 0,
                 std::size_t{1} << 50));
  add("limits.min_free_disk", "size", R"("256MiB")",
      "Free space the database's filesystem must keep (or 1 % of its size, when that is less): below it, "
      "reports are refused before SQLite would fail (HTTPS 503 with Retry-After, SMTP 452 4.3.1), logged once "
      "per episode and shown as tlsrptd_disk_low. 0 turns it off.",
      size_value([](Config& c) -> std::size_t& { return c.limits.min_free_disk; }, 0, std::size_t{1} << 50));

  add("smtp.dkim", "string", R"("require")",
      "DKIM check of mailed reports (RFC 8460 §3): \"require\" keeps a report without a valid signature "
      "(no l=) but does not count it; \"record\" counts it and marks it unauthenticated; \"off\" skips the check.",
      [](Config& c, const toml::node& n) -> std::optional<std::string> {
        auto v = n.value<std::string>();
        if (!v || !n.is_string()) return type_error("a string", n);
        if (*v == "require") c.smtp.dkim = DkimPolicy::require;
        else if (*v == "record") c.smtp.dkim = DkimPolicy::record;
        else if (*v == "off") c.smtp.dkim = DkimPolicy::off;
        else return "must be \"require\", \"record\" or \"off\", got \"" + *v + "\"";
        return std::nullopt;
      });
  add("smtp.trusted_authserv_ids", "string array", "[]",
      "Authentication-Results authserv-ids (RFC 8601) whose dkim verdict is trusted instead of verifying "
      "again; list only your own MTA, which must remove such headers from incoming mail.",
      string_list([](Config& c) -> std::vector<std::string>& { return c.smtp.trusted_authserv_ids; },
                  [](const std::string& id) -> std::optional<std::string> {
                    if (id.empty() || id.find_first_of(" \t;()\"") != std::string::npos)
                      return "\"" + id + "\" is not an authserv-id";
                    return std::nullopt;
                  }));

  auto canonical_lmtp = [](const std::string& a) -> std::expected<std::string, std::string> {
    if (a.starts_with("unix:/")) return a;
    return canonical_listen(a);
  };
  add("smtp.listen", "string array", R"(["127.0.0.1:2525"])",
      "Built-in SMTP listener for rua=mailto: reports (STARTTLS offered). Sockets passed by systemd "
      "(FileDescriptorName=smtp) replace these; [] disables it.",
      address_list("smtp.listen", [](Config& c) -> std::vector<std::string>& { return c.smtp.listen; },
                   canonical_listen));
  add("smtp.lmtp_listen", "string array", "[]",
      "LMTP listeners (RFC 2033) for an MTA's lmtp: transport, TCP (\"127.0.0.1:2424\") or a unix socket "
      "(\"unix:/run/tlsrptd/lmtp.sock\", mode 0660, owned by the service user's group).",
      address_list("smtp.lmtp_listen", [](Config& c) -> std::vector<std::string>& { return c.smtp.lmtp_listen; },
                   canonical_lmtp));
  add("smtp.recipients", "string array", "[]",
      "The report mailbox addresses accepted in RCPT TO (your rua=mailto: address); empty accepts any. Nothing "
      "is ever relayed.",
      string_list([](Config& c) -> std::vector<std::string>& { return c.smtp.recipients; }));
  add("smtp.hostname", "string", R"("")", "Name in the greeting and the EHLO reply; empty uses the host name.",
      string_value([](Config& c) -> std::string& { return c.smtp.hostname; }));
  add("smtp.starttls", "boolean", "true", "Offer STARTTLS on the SMTP listener, with the HTTPS certificate.",
      [](Config& c, const toml::node& n) -> std::optional<std::string> {
        auto v = n.value<bool>();
        if (!v || !n.is_boolean()) return type_error("true or false", n);
        c.smtp.starttls = *v;
        return std::nullopt;
      });
  add("smtp.max_message_bytes", "size", R"("10MiB")", "Largest mail accepted (advertised as SIZE; 552 5.3.4 beyond).",
      size_value([](Config& c) -> std::size_t& { return c.smtp.max_message_bytes; }, 64 * kKiB, 1024 * kMiB));
  add("smtp.max_message_bytes_in_flight", "size", R"("64MiB")",
      "Message bytes all SMTP and LMTP sessions together may hold while receiving and storing mail (at least "
      "smtp.max_message_bytes is used); a message that does not fit is answered 452 4.3.1 and retried later.",
      size_value([](Config& c) -> std::size_t& { return c.smtp.max_message_bytes_in_flight; }, 64 * kKiB,
                 64 * 1024 * kMiB));
  add("smtp.max_recipients", "integer", "10", "Recipients per mail transaction (452 4.5.3 beyond).",
      count_value([](Config& c) -> std::size_t& { return c.smtp.max_recipients; }, 1, 1000));
  add("smtp.command_timeout", "duration", R"("300s")",
      "Deadline for each command line, and for silence inside DATA (RFC 5321 §4.5.3.2.7 suggests 5 minutes).",
      duration_value([](Config& c) -> Millis& { return c.smtp.command_timeout; }, Millis{100}, Millis{3600000}));
  add("smtp.session_timeout", "duration", R"("10m")", "Longest SMTP/LMTP session, greeting to QUIT.",
      duration_value([](Config& c) -> Millis& { return c.smtp.session_timeout; }, Millis{1000}, Millis{86400000}));
  add("smtp.max_connections", "integer", "256",
      "Open SMTP/LMTP connections at most. When reached, the oldest session that has not sent MAIL FROM is "
      "told 421 4.7.0 and closed to make room; with none, the newcomer is told 421 4.7.0 and closed.",
      count_value([](Config& c) -> std::size_t& { return c.smtp.max_connections; }, 1, 100000));
  add("smtp.max_connections_per_client", "integer", "10",
      "Open SMTP connections per client IPv4 address or IPv6 /64; more are told 421 4.7.0 and closed.",
      count_value([](Config& c) -> std::size_t& { return c.smtp.max_connections_per_client; }, 1, 100000));
  add("maildir.paths", "string array", "[]",
      "Maildirs to watch (inotify and a periodic rescan): each new/ message is ingested and moved to cur/ once "
      "committed; rejected ones go to the .rejected folder.",
      string_list([](Config& c) -> std::vector<std::string>& { return c.maildir.paths; }));
  add("maildir.rescan_interval", "duration", R"("60s")",
      "Full rescan of every Maildir's new/ (files inotify missed, and retries after a temporary failure).",
      duration_value([](Config& c) -> Millis& { return c.maildir.rescan_interval; }, Millis{1000}, Millis{86400000}));

  add("inspect.enabled", "boolean", "false",
      "Serve the record generator and inspector on the HTTPS listener: pages at /, /generate, /inspect and "
      "GET /api/v1/inspect?domain=D (12 inspections a minute per IPv4 address or IPv6 /64).",
      [](Config& c, const toml::node& n) -> std::optional<std::string> {
        auto v = n.value<bool>();
        if (!v || !n.is_boolean()) return type_error("true or false", n);
        c.inspect.enabled = *v;
        return std::nullopt;
      });
  add("inspect.trusted_proxies", "string array", "[]",
      "Reverse proxies (IP addresses or networks: \"192.0.2.7\", \"10.0.0.0/8\", \"2001:db8::/32\") whose "
      "X-Forwarded-For names the client for the rate limit; from anyone else the header is ignored. Compared in "
      "canonical form: \"127.0.0.1\" also matches ::ffff:127.0.0.1 (an IPv4 peer on a dual-stack [::] socket), "
      "any spelling of an IPv6 address matches; `config check` prints the form used.",
      address_list("inspect.trusted_proxies",
                   [](Config& c) -> std::vector<std::string>& { return c.inspect.trusted_proxies; },
                   canonical_range));
  add("inspect.max_concurrent", "integer", "8",
      "Inspections running at once, each on its own inspection thread (never on a network thread); more wait in "
      "the queue.",
      count_value([](Config& c) -> std::size_t& { return c.inspect.max_concurrent; }, 1, 256));
  add("inspect.max_queued", "integer", "16",
      "Inspections waiting for an inspection thread; beyond, 503 with Retry-After at once, without a DNS query.",
      count_value([](Config& c) -> std::size_t& { return c.inspect.max_queued; }, 0, 10000));
  add("inspect.timeout", "duration", R"("20s")",
      "Deadline of one inspection, its wait in the queue included: one that cannot start in time gets 503; "
      "lookups still unanswered then are cut and shown as timeouts. Each lookup is also under dns.timeout.",
      duration_value([](Config& c) -> Millis& { return c.inspect.timeout; }, Millis{1000}, Millis{300000}));
  add("inspect.allow_private_names", "boolean", "false",
      "Also inspect names outside the public suffix list (intranet.corp, host.local, x.internal, home.arpa); by "
      "default they get 403 without a DNS query, so the page cannot show what an internal resolver knows.",
      bool_value([](Config& c) -> bool& { return c.inspect.allow_private_names; }));

  add("dns.servers", "string array", "[]",
      "DNS servers for `record inspect` and the inspection endpoint, as IP:port (\"127.0.0.1:5353\", "
      "\"[::1]:5353\"; the port defaults to 53). Empty uses /etc/resolv.conf.",
      string_list([](Config& c) -> std::vector<std::string>& { return c.dns.servers; }, dns_server_check));
  add("dns.timeout", "duration", R"("5s")",
      "Deadline of one DNS lookup, all retries included; an unanswered lookup then counts as a timeout.",
      duration_value([](Config& c) -> std::chrono::milliseconds& { return c.dns.timeout; },
                     std::chrono::milliseconds{100}, std::chrono::milliseconds{60000}));
  using std::chrono::hours;
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  add("alerts.cooldown", "duration", R"("12h")",
      "At most one alert per policy domain and kind is sent within this time; an alert still happening is sent "
      "again after it. Only a rise in severity, backed by an authenticated report, is sent sooner.",
      duration_value([](Config& c) -> seconds& { return c.alerts.cooldown; }, milliseconds(0), hours(24 * 30)));
  add("alerts.failure_ratio", "number", "0.05",
      "failure-rate alert: share of a domain's sessions in a day that failed, at or above which it fires (when also "
      "at least twice the ratio of the baseline days).",
      ratio_value([](Config& c) -> double& { return c.alerts.failure_ratio; }));
  add("alerts.min_sessions", "integer", "50",
      "failure-rate alert: fewest sessions in a day for a domain before a ratio counts, so small numbers page nobody.",
      count_value([](Config& c) -> std::uint64_t& { return c.alerts.min_sessions; }, 1, 1000000000));
  add("alerts.baseline_days", "integer", "7",
      "Days before a report's day that its policies and failures are compared with. A domain without reports in "
      "them gets no change alerts (failure alerts still fire).",
      count_value([](Config& c) -> int& { return c.alerts.baseline_days; }, 1, 90));
  add("alerts.trust_unauthenticated", "boolean", "false",
      "Let unauthenticated reports (HTTPS, or mail that failed DKIM) open alerts. RFC 8460 section 7: anyone can "
      "send them; keep false unless you accept forged reports raising alerts.",
      bool_value([](Config& c) -> bool& { return c.alerts.trust_unauthenticated; }));
  add("alerts.max_per_hour", "integer", "20",
      "Most alerts sent in any hour over all sinks (one reporter and one served domain may spend only their shares "
      "of it, below); the rest are recorded and announced as \"N more suppressed\".",
      count_value([](Config& c) -> int& { return c.alerts.max_per_hour; }, 1, 100000));
  add("alerts.max_per_hour_per_reporter", "integer", "5",
      "Most alerts sent in any hour that one reporter (the organizational domain of an aligned DKIM signer, so "
      "a.evil.example and b.evil.example are one; or the organization-name and contact-info an unauthenticated "
      "report claims) is behind, so reports signed by a stranger's own domain "
      "cannot use up max_per_hour; the rest are recorded and counted in the \"N more suppressed\" notice.",
      count_value([](Config& c) -> int& { return c.alerts.max_per_hour_per_reporter; }, 1, 100000));
  add("alerts.max_per_hour_per_domain", "integer", "10",
      "Most alerts sent in any hour about one served domain (the `domains` entry a policy domain falls under, "
      "subdomains included; its organizational domain when `domains` is empty), so alerts about many subdomains "
      "cannot use up max_per_hour; the rest are recorded and counted in the \"N more suppressed\" notice.",
      count_value([](Config& c) -> int& { return c.alerts.max_per_hour_per_domain; }, 1, 100000));
  add("alerts.max_per_hour_ceiling", "integer", "40",
      "Hard ceiling of alerts sent in any hour: past max_per_hour (and past a served domain's share), a DKIM "
      "signing organization that has sent nothing this hour still gets its first alert through, up to this many "
      "in all, so strangers with a few signing domains cannot block a real reporter's first alert. At or below "
      "max_per_hour: no such exception.",
      count_value([](Config& c) -> int& { return c.alerts.max_per_hour_ceiling; }, 1, 100000));
  add("alerts.stale_after", "duration", R"("4d")",
      "Alerts about report days that ended longer ago are recorded (see `tlsrptd alerts list`) but not sent, so "
      "importing an archive pages nobody.",
      duration_value([](Config& c) -> seconds& { return c.alerts.stale_after; }, milliseconds(0), hours(24 * 3650)));
  return t;
}

// The [[alerts.sink]] array of tables: its own small parameter table, one row per key,
// with the sink types the key applies to.
struct SinkParam {
  std::string_view key;
  std::string_view type;
  std::string_view example_toml;  // shown commented out in `config defaults`
  std::string_view applies_to;    // "file", "email webhook", ... ("" = every type)
  std::string_view doc;
  std::function<std::optional<std::string>(AlertSinkConfig&, const toml::node&)> apply;
};

template <class F>
auto sink_string(F get, std::vector<std::string_view> allowed = {}) {
  return [get, allowed](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
    auto v = n.value<std::string>();
    if (!v || !n.is_string()) return type_error("a string", n);
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), *v) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return "must be one of " + list;
    }
    get(s) = *v;
    return std::nullopt;
  };
}

const std::vector<SinkParam>& sink_params() {
  static const std::vector<SinkParam> table = [] {
    std::vector<SinkParam> t;
    t.push_back({"type", "string", R"("log")", "", "log (one line to the log), file (JSON Lines), email or webhook.",
                 sink_string([](AlertSinkConfig& s) -> std::string& { return s.type; },
                             {"log", "file", "email", "webhook"})});
    t.push_back({"path", "string", R"("/var/log/tlsrptd/alerts.jsonl")", "file",
                 "File the alerts are appended to, one JSON object per line.",
                 sink_string([](AlertSinkConfig& s) -> std::string& { return s.path; })});
    t.push_back({"to", "string array", R"(["postmaster@example.com"])", "email", "Recipients (bare addresses).",
                 [](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
                   const auto* arr = n.as_array();
                   if (!arr || arr->empty()) return "expected a non-empty array of addresses";
                   s.to.clear();
                   for (const auto& el : *arr) {
                     auto v = el.value<std::string>();
                     if (!v || !el.is_string()) return "expected a non-empty array of addresses";
                     if (!alerts::valid_mailbox(*v)) return "\"" + *v + "\" is not a bare mail address";
                     s.to.push_back(*v);
                   }
                   return std::nullopt;
                 }});
    t.push_back({"from", "string", R"("tlsrptd@example.com")", "email",
                 "Sender address (envelope and From:); empty means tlsrptd@<this host's name>.",
                 [](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
                   auto v = n.value<std::string>();
                   if (!v || !n.is_string()) return type_error("a string", n);
                   if (!v->empty() && !alerts::valid_mailbox(*v)) return "\"" + *v + "\" is not a bare mail address";
                   s.from = *v;
                   return std::nullopt;
                 }});
    t.push_back({"smarthost", "string", R"("smtp://mail.example.com:587")", "email",
                 "SMTP relay: smtp://host:port (STARTTLS) or smtps://host:port (TLS from the start).",
                 [](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
                   auto v = n.value<std::string>();
                   if (!v || !n.is_string()) return type_error("a string", n);
                   if (!v->starts_with("smtp://") && !v->starts_with("smtps://"))
                     return "must start with smtp:// or smtps://";
                   s.smarthost = *v;
                   return std::nullopt;
                 }});
    t.push_back({"starttls", "string", R"("required")", "email",
                 "required: refuse to send unless STARTTLS succeeds; try: use it when offered.",
                 sink_string([](AlertSinkConfig& s) -> std::string& { return s.starttls; }, {"required", "try"})});
    t.push_back({"username", "string", R"("tlsrptd")", "email", "SMTP AUTH user; empty means no AUTH.",
                 sink_string([](AlertSinkConfig& s) -> std::string& { return s.username; })});
    t.push_back({"password_file", "string", R"("/etc/tlsrptd/smtp-password")", "email",
                 "File holding the SMTP AUTH password (first line), readable by tlsrptd only.",
                 sink_string([](AlertSinkConfig& s) -> std::string& { return s.password_file; })});
    t.push_back({"url", "string", R"("https://chat.example.com/hooks/xxxx")", "webhook",
                 "HTTPS URL the alert is POSTed to. Redirects are not followed.",
                 [](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
                   auto v = n.value<std::string>();
                   if (!v || !n.is_string()) return type_error("a string", n);
                   if (!v->starts_with("https://") || v->size() <= 8) return "must be an https:// URL";
                   s.url = *v;
                   return std::nullopt;
                 }});
    t.push_back({"format", "string", R"("json")", "webhook",
                 "json: the alert as JSON; slack: {\"text\": ...} for Slack or Mattermost incoming webhooks.",
                 sink_string([](AlertSinkConfig& s) -> std::string& { return s.format; }, {"json", "slack"})});
    t.push_back({"allow_private", "boolean", "false", "webhook",
                 "Allow loopback, private and link-local targets (refused by default: SSRF).",
                 [](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
                   auto v = n.value<bool>();
                   if (!v || !n.is_boolean()) return type_error("true or false", n);
                   s.allow_private = *v;
                   return std::nullopt;
                 }});
    t.push_back({"ca_file", "string", R"("/etc/tlsrptd/ca.pem")", "email webhook",
                 "PEM file of CA certificates to trust for this sink instead of the system store.",
                 sink_string([](AlertSinkConfig& s) -> std::string& { return s.ca_file; })});
    t.push_back({"timeout", "duration", R"("10s")", "email webhook", "Deadline for one delivery attempt.",
                 [](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
                   auto v = parse_duration(n);
                   if (!v) return v.error();
                   if (*v < std::chrono::seconds(1) || *v > std::chrono::minutes(5))
                     return "must be between 1s and 300s";
                   s.timeout = *v;
                   return std::nullopt;
                 }});
    t.push_back({"retries", "integer", "3", "file email webhook",
                 "Further attempts after a failed delivery, 1s, 2s, 4s ... apart.",
                 [](AlertSinkConfig& s, const toml::node& n) -> std::optional<std::string> {
                   auto v = n.value<std::int64_t>();
                   if (!v || !n.is_integer()) return type_error("an integer", n);
                   if (*v < 0 || *v > 10) return "must be between 0 and 10";
                   s.retries = static_cast<int>(*v);
                   return std::nullopt;
                 }});
    return t;
  }();
  return table;
}

// Type-specific rules once every key of a [[alerts.sink]] table is known.
std::optional<std::string> check_sink(const AlertSinkConfig& s, const std::vector<std::string>& keys) {
  for (const auto& k : keys) {
    auto it = std::find_if(sink_params().begin(), sink_params().end(), [&](const SinkParam& p) { return p.key == k; });
    if (it == sink_params().end() || it->applies_to.empty()) continue;
    std::string applies(it->applies_to);
    bool ok = false;
    for (std::size_t pos = 0; pos <= applies.size();) {
      auto sp = applies.find(' ', pos);
      if (applies.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos) == s.type) ok = true;
      if (sp == std::string::npos) break;
      pos = sp + 1;
    }
    if (!ok) return "\"" + k + "\" does not apply to a " + s.type + " sink (only " + applies + ")";
  }
  if (s.type == "file" && s.path.empty()) return "a file sink needs path";
  if (s.type == "email") {
    if (s.smarthost.empty()) return "an email sink needs smarthost";
    if (s.to.empty()) return "an email sink needs to";
    if (s.username.empty() != s.password_file.empty()) return "username and password_file go together";
    // AUTH over a connection that may stay plain text would give the password away.
    if (!s.username.empty() && s.starttls != "required" && !s.smarthost.starts_with("smtps://"))
      return "AUTH needs starttls = \"required\" or an smtps:// smarthost";
  }
  if (s.type == "webhook" && s.url.empty()) return "a webhook sink needs url";
  return std::nullopt;
}

void walk_sinks(const toml::node& node, Config& cfg, const std::string& file, std::vector<ConfigError>& errors) {
  auto where = node.source().begin;
  const auto* arr = node.as_array();
  if (!arr || !arr->is_array_of_tables()) {
    errors.push_back(ConfigError{file, static_cast<long>(where.line), static_cast<long>(where.column),
                                 "alerts.sink: expected [[alerts.sink]] tables"});
    return;
  }
  for (const auto& el : *arr) {
    const auto& tbl = *el.as_table();
    auto at = tbl.source().begin;
    AlertSinkConfig sink;
    sink.where = file + ":" + std::to_string(at.line);
    std::vector<std::string> keys;
    bool ok = true;
    for (const auto& [k, v] : tbl) {
      std::string key(k.str());
      auto vw = v.source().begin;
      auto it = std::find_if(sink_params().begin(), sink_params().end(), [&](const SinkParam& p) { return p.key == key; });
      if (it == sink_params().end()) {
        errors.push_back(ConfigError{file, static_cast<long>(vw.line), static_cast<long>(vw.column),
                                     "unknown key \"alerts.sink." + key + "\""});
        ok = false;
        continue;
      }
      if (auto err = it->apply(sink, v)) {
        errors.push_back(ConfigError{file, static_cast<long>(vw.line), static_cast<long>(vw.column),
                                     "alerts.sink." + key + ": " + *err});
        ok = false;
        continue;
      }
      keys.push_back(key);
    }
    if (ok)
      if (auto err = check_sink(sink, keys))
        errors.push_back(
            ConfigError{file, static_cast<long>(at.line), static_cast<long>(at.column), "alerts.sink: " + *err});
    cfg.alerts.sinks.push_back(std::move(sink));
  }
}

std::map<std::string, const Param*> index_table() {
  std::map<std::string, const Param*> m;
  for (const auto& p : param_table()) m[std::string(p.key)] = &p;
  return m;
}

void walk_table(const toml::table& tbl, const std::string& prefix, Config& cfg, const std::string& file,
                const std::map<std::string, const Param*>& index, std::vector<ConfigError>& errors) {
  for (const auto& [k, node] : tbl) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    auto where = node.source().begin;
    if (key == "alerts.sink") {  // the one array of tables
      walk_sinks(node, cfg, file, errors);
      continue;
    }
    auto it = index.find(key);
    if (it == index.end()) {
      if (const auto* sub = node.as_table()) {
        walk_table(*sub, key, cfg, file, index, errors);
        continue;
      }
      errors.push_back(ConfigError{file, static_cast<long>(where.line), static_cast<long>(where.column),
                                   "unknown key \"" + key + "\""});
      continue;
    }
    if (auto err = it->second->apply(cfg, node))
      errors.push_back(ConfigError{file, static_cast<long>(where.line), static_cast<long>(where.column),
                                   key + ": " + *err});
  }
}

const std::vector<Param>& param_table() {
  static const std::vector<Param> table = build_table();
  return table;
}

// Keys that only make sense together: an admin listener others can reach needs a password.
void check_admin(const Config& cfg, const toml::table& tbl, const std::string& file, std::vector<ConfigError>& errors) {
  if (!cfg.admin.password_file.empty()) return;
  for (const auto& a : cfg.admin.listen) {
    if (is_loopback_listen(a)) continue;
    const toml::node* n = tbl.at_path("admin.listen").node();
    auto where = n ? n->source().begin : toml::source_position{};
    errors.push_back(ConfigError{file, static_cast<long>(where.line), static_cast<long>(where.column),
                                 admin_exposed_message(a)});
    return;
  }
}

}  // namespace

std::optional<std::pair<std::string, unsigned short>> parse_listen_address(std::string_view s) {
  std::string host;
  std::string_view port;
  if (s.starts_with('[')) {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos || s.find(':') != colon) return std::nullopt;
    host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5) return std::nullopt;
  unsigned p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p > 65535) return std::nullopt;
  return std::pair{host, static_cast<unsigned short>(p)};
}

bool is_loopback_listen(std::string_view s) {
  auto hp = parse_listen_address(s);
  auto ip = hp ? canonical_address(hp->first) : std::nullopt;
  return ip && ip->is_loopback();
}

std::string admin_exposed_message(std::string_view address) {
  return "admin.listen: \"" + std::string(address) + "\" is not a loopback address, and admin.password_file is not "
         "set: /metrics and /healthz would be open to anyone who can reach it; set admin.password_file (HTTP basic "
         "authentication) or keep admin.listen on 127.0.0.1 / [::1]";
}

std::vector<ParamDoc> param_docs() {
  std::vector<ParamDoc> out;
  for (const auto& p : param_table()) out.push_back(ParamDoc{p.key, p.type, p.default_toml, p.doc});
  return out;
}

std::string ConfigError::text() const {
  std::ostringstream s;
  s << file;
  if (line > 0) s << ':' << line << ':' << column;
  s << ": " << message;
  return s.str();
}

Config default_config() {
  Config c;
  for (const auto& p : param_table()) {
    // The table's defaults are TOML literals: parse each as `v = <default>`.
    auto doc = toml::parse("v = " + std::string(p.default_toml));
    if (auto err = p.apply(c, *doc.get("v")))
      throw std::logic_error("bad default for " + std::string(p.key) + ": " + *err);
  }
  return c;
}

std::expected<Config, std::vector<ConfigError>> load_config(const std::string& path) {
  Config cfg = default_config();
  cfg.source = path;
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    auto where = e.source().begin;
    return std::unexpected(std::vector<ConfigError>{ConfigError{path, static_cast<long>(where.line),
                                                                static_cast<long>(where.column),
                                                                std::string(e.description())}});
  }
  std::vector<ConfigError> errors;
  walk_table(tbl, "", cfg, path, index_table(), errors);
  if (errors.empty()) check_admin(cfg, tbl, path, errors);
  // toml++ iterates keys in sorted order; report errors in file order.
  std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  if (!errors.empty()) return std::unexpected(std::move(errors));
  return cfg;
}

std::expected<Config, std::vector<ConfigError>> resolve_config(const std::optional<std::string>& path,
                                                                const std::optional<std::string>& db_override) {
  std::expected<Config, std::vector<ConfigError>> cfg = path ? load_config(*path) : default_config();
  if (cfg && db_override) cfg->database = *db_override;
  return cfg;
}

std::string ConfigSource::describe() const {
  return (path ? *path : std::string("built-in defaults")) + " (" + why + ")";
}

std::expected<ConfigSource, std::string> find_config(const std::optional<std::string>& flag, const char* env,
                                                     std::string_view system_path) {
  // A named file must exist; the loader reports any other problem with it (a folder,
  // no permission to read) with its file name, as for every configuration error.
  auto named = [](const std::string& path, std::string why) -> std::expected<ConfigSource, std::string> {
    std::error_code ec;
    if (std::filesystem::exists(path, ec) || ec) return ConfigSource{path, std::move(why)};
    return std::unexpected(path + ": no such configuration file (" + why + ")");
  };
  if (flag) return named(*flag, "from --config");
  if (env && *env) return named(env, "from $TLSRPTD_CONFIG");
  const std::string sys(system_path);
  std::error_code ec;
  if (std::filesystem::exists(sys, ec)) return ConfigSource{sys, "the system configuration file"};
  // Cannot even tell whether it is there (e.g. /etc/tlsrptd not searchable): say so
  // rather than run on other settings than the admin installed.
  if (ec) return std::unexpected("cannot check " + sys + ": " + ec.message() + "; name the configuration with "
                                 "--config FILE or $TLSRPTD_CONFIG");
  return ConfigSource{std::nullopt, "no --config, no $TLSRPTD_CONFIG, no " + sys};
}

std::string render_defaults() {
  std::ostringstream out;
  out << "# tlsrptd configuration: every parameter with its default.\n"
         "# Generated by `tlsrptd config defaults` from the parameter table.\n";
  std::string section;
  // TOML: top-level keys must come before the first [section].
  std::vector<const Param*> rows;
  for (const auto& p : param_table()) rows.push_back(&p);
  std::stable_partition(rows.begin(), rows.end(), [](const Param* p) { return p->key.find('.') == std::string_view::npos; });
  for (const Param* pp : rows) {
    const Param& p = *pp;
    std::string key(p.key);
    std::string sec, leaf = key;
    if (auto dot = key.rfind('.'); dot != std::string::npos) {
      sec = key.substr(0, dot);
      leaf = key.substr(dot + 1);
    }
    if (sec != section) {
      out << "\n[" << sec << "]\n";
      section = sec;
    } else {
      out << "\n";
    }
    out << "# " << p.doc << " (" << p.type << ")\n";
    out << leaf << " = " << p.default_toml << "\n";
  }
  // [[alerts.sink]] last: keys after an array-of-tables header belong to it.
  out << "\n# Where alerts go: one [[alerts.sink]] table per sink, several allowed. Without any,\n"
         "# alerts go to the log. The keys below type are examples for the other types.\n"
         "[[alerts.sink]]\n";
  for (const auto& p : sink_params()) {
    out << "# " << p.doc << " (" << p.type;
    if (!p.applies_to.empty()) out << "; " << p.applies_to;
    out << ")\n";
    if (p.key == "type") out << p.key << " = " << p.example_toml << "\n";
    else out << "# " << p.key << " = " << p.example_toml << "\n";
  }
  return out.str();
}

namespace {

std::expected<std::size_t, std::string> parse_size(const toml::node& n);

}  // namespace

std::string render_defaults_markdown() {
  std::ostringstream out;
  out << "| key | type | default | meaning |\n|---|---|---|---|\n";
  auto cell = [](std::string_view s) {
    std::string r;
    for (char c : s) r += c == '|' ? std::string("\\|") : std::string(1, c);
    return r;
  };
  for (const auto& p : param_table())
    out << "| `" << p.key << "` | " << p.type << " | `" << cell(p.default_toml) << "` | " << cell(p.doc) << " |\n";
  return out.str();
}

namespace {

std::expected<std::size_t, std::string> parse_size(const toml::node& n) {
  if (auto i = n.value<std::int64_t>(); i && n.is_integer()) {
    if (*i < 0) return std::unexpected("a size must not be negative");
    return static_cast<std::size_t>(*i);
  }
  auto s = n.value<std::string>();
  if (!s || !n.is_string()) return std::unexpected("expected a size such as 2MiB or 1048576");
  std::size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(*s, &pos);
  } catch (...) {
    return std::unexpected("expected a size such as 2MiB or 1048576, got \"" + *s + "\"");
  }
  std::string unit = s->substr(pos);
  unit.erase(0, unit.find_first_not_of(' '));
  std::size_t mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "KiB" || unit == "K" || unit == "KB") mult = kKiB;
  else if (unit == "MiB" || unit == "M" || unit == "MB") mult = kMiB;
  else if (unit == "GiB" || unit == "G" || unit == "GB") mult = 1024 * kMiB;
  else return std::unexpected("unknown size unit \"" + unit + "\" (use B, KiB, MiB or GiB)");
  return static_cast<std::size_t>(v) * mult;
}

std::expected<std::chrono::milliseconds, std::string> parse_duration(const toml::node& n) {
  using namespace std::chrono;
  if (auto i = n.value<std::int64_t>(); i && n.is_integer()) {
    if (*i < 0) return std::unexpected("a duration must not be negative");
    return duration_cast<milliseconds>(seconds{*i});
  }
  auto s = n.value<std::string>();
  if (!s || !n.is_string()) return std::unexpected("expected a duration such as \"10s\", \"250ms\" or \"5m\"");
  std::size_t pos = 0;
  long long v = 0;
  try {
    v = std::stoll(*s, &pos);
  } catch (...) {
    return std::unexpected("expected a duration such as \"10s\", got \"" + *s + "\"");
  }
  std::string unit = s->substr(pos);
  if (v < 0) return std::unexpected("a duration must not be negative");
  if (unit == "ms") return milliseconds{v};
  if (unit == "s" || unit.empty()) return duration_cast<milliseconds>(seconds{v});
  if (unit == "m" || unit == "min") return duration_cast<milliseconds>(minutes{v});
  if (unit == "h") return duration_cast<milliseconds>(hours{v});
  if (unit == "d") return duration_cast<milliseconds>(hours{24 * v});
  return std::unexpected("unknown duration unit \"" + unit + "\" (use ms, s, m, h or d)");
}

}  // namespace

}  // namespace tlsrpt::daemon
