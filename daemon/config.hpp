// The configuration: ONE parameter table (name, type, default, doc) from which the
// TOML loader, `config defaults`, the example config and the README section are all
// produced (docs/architecture.md#conventions). Only daemon/ reads configuration files.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parser/limits.hpp"

namespace tlsrpt::daemon {

using Millis = std::chrono::milliseconds;

struct HttpsConfig {
  std::vector<std::string> listen;  // "127.0.0.1:8443", "[::1]:8443"
  std::string certificate, private_key;
  std::string path;  // the POST path of the rua https URI
  unsigned threads = 0;
  Millis handshake_timeout{}, header_timeout{}, request_timeout{}, idle_timeout{}, write_timeout{};
  std::size_t max_connections = 0, max_connections_per_client = 0, max_header_bytes = 0,
              max_requests_per_connection = 0, max_body_bytes_in_flight = 0,
              max_body_bytes_per_client = 0;
  Millis retry_after{};
};

struct AdminConfig {
  std::vector<std::string> listen;  // /metrics and /healthz over plain HTTP; empty = off
  std::string password_file;        // "user:crypt(3) hash" lines: HTTP basic auth; "" = none
  std::size_t max_password_checks = 0;      // hashes running or waiting at once; beyond, 503
  std::size_t max_failures_per_minute = 0;  // wrong passwords from all clients together; beyond, 429
};

struct StoreConfig {
  Millis commit_delay{};
  std::size_t max_batch = 0;
  Millis busy_timeout{};
};

// RFC 8460 §3: what a mailed report without a valid DKIM signature gets.
enum class DkimPolicy {
  require,  // kept (raw, with the reason) but not counted
  record,   // stored and counted, marked unauthenticated
  off,      // not checked
};

// [smtp]: mailed reports (SMTP/LMTP listeners, Maildir).
struct SmtpConfig {
  DkimPolicy dkim = DkimPolicy::require;
  // Authentication-Results authserv-ids whose dkim= verdict is trusted instead of
  // verifying ourselves (RFC 8601 §5: the MTA must strip forged ones).
  std::vector<std::string> trusted_authserv_ids;
  std::vector<std::string> listen;       // SMTP with STARTTLS: "127.0.0.1:2525"
  std::vector<std::string> lmtp_listen;  // LMTP: "127.0.0.1:2424" or "unix:/run/tlsrptd/lmtp.sock"
  std::vector<std::string> recipients;   // accepted RCPT TO addresses; empty = any
  std::string hostname;                  // greeting and EHLO name; "" = the system's host name
  bool starttls = true;                  // offer STARTTLS with the HTTPS certificate
  std::size_t max_message_bytes = 0;
  std::size_t max_message_bytes_in_flight = 0;  // shared by every SMTP/LMTP session
  std::size_t max_recipients = 0;
  Millis command_timeout{}, session_timeout{};
  std::size_t max_connections = 0, max_connections_per_client = 0;
};

// [inspect]: the record inspection site and API on the HTTPS listener (README.md#inspection-endpoint).
struct InspectConfig {
  bool enabled = false;
  std::vector<std::string> trusted_proxies;
  std::size_t max_concurrent = 0;  // inspections running (the inspection threads)
  std::size_t max_queued = 0;      // waiting for a thread; beyond, 503 at once
  Millis timeout{};                // one whole inspection, its wait included
  bool allow_private_names = false;
};

// [maildir]: Maildirs an MTA or fetchmail/mbsync delivers report mails into.
struct MaildirConfig {
  std::vector<std::string> paths;
  Millis rescan_interval{};
};

// One [[alerts.sink]] table (README.md#alerts). Which keys apply depends on `type`.
struct AlertSinkConfig {
  std::string type = "log";         // log | file | email | webhook
  std::string path;                 // file: JSON Lines file
  std::vector<std::string> to;      // email: recipients
  std::string from;                 // email: sender ("" = tlsrptd@<host name>)
  std::string smarthost;            // email: smtp://host:port or smtps://host:port
  std::string starttls = "required";  // email: required | try
  std::string username;             // email: AUTH user ("" = no AUTH)
  std::string password_file;        // email: file holding the AUTH password
  std::string ca_file;              // email, webhook: extra trust anchors (PEM)
  std::string url;                  // webhook: https://...
  std::string format = "json";      // webhook: json | slack
  bool allow_private = false;       // webhook: allow loopback/private targets
  std::chrono::milliseconds timeout{10000};  // email, webhook: per attempt
  int retries = 3;                  // further attempts after a failed one
  std::string where;                // "file:line" of the table, for messages
};

struct AlertsConfig {
  std::chrono::seconds cooldown{std::chrono::hours(12)};
  double failure_ratio = 0.05;
  std::uint64_t min_sessions = 50;
  int baseline_days = 7;
  bool trust_unauthenticated = false;
  int max_per_hour = 20;
  // Shares of max_per_hour one reporter identity (dkim:<d> or org:...) and one served
  // domain (subdomains included) may spend, so one stranger cannot use up the rest.
  int max_per_hour_per_reporter = 5;
  int max_per_hour_per_domain = 10;
  // Past max_per_hour, a signing organization's first alert of the hour still goes out,
  // up to this many in all (alerts::BudgetConfig).
  int max_per_hour_ceiling = 40;
  std::chrono::seconds stale_after{std::chrono::hours(96)};
  // The top-level `domains`, normalised (copied when it is read): what "served
  // domain" means for the per-domain share.
  std::vector<std::string> served_domains;
  std::vector<AlertSinkConfig> sinks;  // empty: alerts go to the log
};

struct Config {
  std::string database;
  std::vector<std::string> domains;  // policy domains served; empty = every domain
  std::string user;                  // drop privileges to this user after binding
  std::string log_level;
  Millis shutdown_timeout{};
  Limits limits;
  HttpsConfig https;
  AdminConfig admin;
  StoreConfig store;
  SmtpConfig smtp;
  MaildirConfig maildir;
  InspectConfig inspect;
  struct Dns {
    std::vector<std::string> servers;         // "host:port" IP literals; empty = /etc/resolv.conf
    std::chrono::milliseconds timeout{5000};  // per lookup, every try included
  } dns;
  AlertsConfig alerts;
  std::string source;  // the file it came from, "" for embedded defaults
  // What the loader normalised, for `config check`: an address spelt otherwise than it
  // is compared ("inspect.trusted_proxies: \"::ffff:127.0.0.1\" is 127.0.0.1").
  std::vector<std::string> notes;
};

// "127.0.0.1:8443" / "[::1]:8443" -> host and port; nullopt when malformed.
std::optional<std::pair<std::string, unsigned short>> parse_listen_address(std::string_view s);
// A listen address's host is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x).
bool is_loopback_listen(std::string_view s);
// The refusal for an admin listener beyond loopback without admin.password_file.
std::string admin_exposed_message(std::string_view address);

// One row of the parameter table, as documentation (the loader keeps the setters).
struct ParamDoc {
  std::string_view key;           // dotted TOML path, e.g. "limits.max_report_bytes"
  std::string_view type;          // "string", "integer", "size", "duration", ...
  std::string_view default_toml;  // the default as a TOML value
  std::string_view doc;           // one or two sentences
};
std::vector<ParamDoc> param_docs();

struct ConfigError {
  std::string file;
  long line = 0;
  long column = 0;
  std::string message;
  std::string text() const;  // "file:line:column: message"
};

// Every parameter at its default (the table's default_toml values).
Config default_config();
// Defaults overlaid with a TOML file; all errors at once, each with file:line.
std::expected<Config, std::vector<ConfigError>> load_config(const std::string& path);
// Loads `path` when given, else the defaults; `db_override` (from --db) wins.
std::expected<Config, std::vector<ConfigError>> resolve_config(const std::optional<std::string>& path,
                                                                const std::optional<std::string>& db_override);

// Where the configuration comes from (README.md#command-line), first match wins:
// --config, then $TLSRPTD_CONFIG, then the system file when it exists, then the
// built-in defaults. A file named by --config or $TLSRPTD_CONFIG must exist: a typo
// there is an error, never a silent fall back to other settings.
inline constexpr std::string_view kSystemConfigPath = "/etc/tlsrptd/tlsrptd.toml";
struct ConfigSource {
  std::optional<std::string> path;  // nullopt: the built-in defaults
  std::string why;                  // "from --config", "the system configuration file", ...
  // For --help and `config check`: "FILE (why)" or "built-in defaults (why)".
  std::string describe() const;
};
// `env` is $TLSRPTD_CONFIG (null or empty: unset); `system_path` is a parameter so
// tests can point it away from /etc. The error is one line naming the file and who named it.
std::expected<ConfigSource, std::string> find_config(const std::optional<std::string>& flag, const char* env,
                                                     std::string_view system_path = kSystemConfigPath);

// `tlsrptd config defaults`: every parameter, its default and doc, as a TOML file.
std::string render_defaults();
// The same as a Markdown table (key, type, default, meaning) for the README.
std::string render_defaults_markdown();

}  // namespace tlsrpt::daemon
