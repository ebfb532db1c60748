// `tlsrptd serve`: the long-running daemon. Startup problems are fatal with a clear
// message and a sysexits code; afterwards nothing from the network can stop it.
// Order: config -> TLS material -> listeners (as root if needed) -> drop privileges
// -> database -> READY. SIGTERM drains, SIGHUP reloads.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <ranges>
#include <thread>
#include <tuple>
#include <vector>

#include "daemon/cli/commands.hpp"
#include "daemon/config.hpp"
#include "daemon/exit_codes.hpp"
#include "daemon/intake/alerting.hpp"
#include "daemon/intake/intake.hpp"
#include "daemon/intake/maildir_watcher.hpp"
#include "daemon/intake/store_writer.hpp"
#include "daemon/log.hpp"
#include "daemon/metrics.hpp"
#include "daemon/net/http_server.hpp"
#include "daemon/net/smtp_server.hpp"
#include "daemon/net/tls.hpp"
#include "daemon/service_user.hpp"
#include "daemon/systemd.hpp"
#include "storage/sqlite.hpp"
#include "parser/domain.hpp"
#include "parser/text.hpp"

namespace tlsrpt::daemon {
namespace asio = boost::asio;

namespace {

constexpr int kExitOsErr = 71;  // EX_OSERR: cannot bind, cannot drop privileges

HttpPolicy policy_from(const Config& cfg, bool admin) {
  HttpPolicy p;
  p.report_path = cfg.https.path;
  p.admin = admin;
  p.limits = cfg.limits;
  p.retry_after = std::chrono::duration_cast<std::chrono::seconds>(cfg.https.retry_after);
  return p;
}

HttpServerOptions https_options(const Config& cfg) {
  HttpServerOptions o;
  o.name = "https";
  o.tls = true;
  o.policy = policy_from(cfg, false);
  o.handshake_timeout = cfg.https.handshake_timeout;
  o.header_timeout = cfg.https.header_timeout;
  o.request_timeout = cfg.https.request_timeout;
  o.idle_timeout = cfg.https.idle_timeout;
  o.write_timeout = cfg.https.write_timeout;
  o.max_connections = cfg.https.max_connections;
  o.max_connections_per_client = cfg.https.max_connections_per_client;
  o.max_header_bytes = cfg.https.max_header_bytes;
  o.max_requests_per_connection = cfg.https.max_requests_per_connection;
  o.max_body_bytes_in_flight = cfg.https.max_body_bytes_in_flight;
  o.max_body_bytes_per_client = cfg.https.max_body_bytes_per_client;
  return o;
}

SmtpServerOptions smtp_options(const Config& cfg, bool lmtp, const std::string& host,
                               std::shared_ptr<MessageBudget> budget) {
  SmtpServerOptions o;
  o.session.budget = std::move(budget);
  o.name = lmtp ? "lmtp" : "smtp";
  o.session.hostname = cfg.smtp.hostname.empty() ? host : cfg.smtp.hostname;
  o.session.lmtp = lmtp;
  o.session.recipients = cfg.smtp.recipients;
  o.session.max_message_bytes = cfg.smtp.max_message_bytes;
  o.session.max_recipients = cfg.smtp.max_recipients;
  o.session.command_timeout = cfg.smtp.command_timeout;
  o.session.session_timeout = cfg.smtp.session_timeout;
  o.starttls = cfg.smtp.starttls;
  o.max_connections = cfg.smtp.max_connections;
  o.max_connections_per_client = cfg.smtp.max_connections_per_client;
  return o;
}

// One budget for both mail listeners: what matters is the process's memory.
std::size_t mail_budget_limit(const Config& cfg) {
  return std::max(cfg.smtp.max_message_bytes_in_flight, cfg.smtp.max_message_bytes);
}

std::shared_ptr<InspectService> make_inspect(const Config& cfg) {
  if (!cfg.inspect.enabled) return nullptr;
  InspectServiceOptions io;
  io.dns_servers = cfg.dns.servers;
  io.dns_timeout = cfg.dns.timeout;
  io.max_concurrent = cfg.inspect.max_concurrent;
  io.max_queued = cfg.inspect.max_queued;
  io.timeout = cfg.inspect.timeout;
  io.allow_private_names = cfg.inspect.allow_private_names;
  io.trusted_proxies = cfg.inspect.trusted_proxies;
  return std::make_shared<InspectService>(io);
}

HttpServerOptions admin_options(const Config& cfg, std::shared_ptr<AdminAuth> auth) {
  HttpServerOptions o = https_options(cfg);
  o.name = "admin";
  o.tls = false;
  o.policy = policy_from(cfg, true);
  o.admin_auth = std::move(auth);
  o.max_connections = 64;
  o.max_connections_per_client = 64;
  return o;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

// Loads the configured certificate, generating a self-signed pair on first start.
std::expected<std::shared_ptr<asio::ssl::context>, std::string> load_tls(const Config& cfg, bool allow_generate) {
  namespace fs = std::filesystem;
  const bool have_cert = fs::exists(cfg.https.certificate), have_key = fs::exists(cfg.https.private_key);
  if (!have_cert && !have_key && allow_generate) {
    if (auto r = generate_self_signed(cfg.https.certificate, cfg.https.private_key, host_name()); !r)
      return std::unexpected(r.error());
    log_notice("https: no certificate configured: generated a self-signed one at " + cfg.https.certificate +
               " (key " + cfg.https.private_key + "); senders accept it (RFC 8460 §3 lets them skip validation), "
               "but replace it with a certificate for your rua host name");
  } else if (have_cert != have_key) {
    return std::unexpected("https: " + (have_cert ? cfg.https.private_key : cfg.https.certificate) +
                           " is missing (certificate and key go together)");
  }
  return make_server_context(cfg.https.certificate, cfg.https.private_key);
}

void log_alert_line(std::string_view line) { log_notice(line); }

// How long replaced or stopping alert sinks get to deliver what they hold.
constexpr std::chrono::seconds kAlertDrain{10};

// Settings fixed when the daemon starts: sockets, the database and the user, the
// store writer, the network threads, the Maildir watcher, and the HTTP servers'
// deadlines and caps. Each one the file changed is named, and keeps its running
// value in `next`, so that the next reload compares against what runs.
std::vector<std::string> keep_restart_only(Config& next, const Config& running) {
  std::vector<std::string> changed;
  auto fixed = [&](std::string_view key, auto field) {
    if (field(next) == field(running)) return;
    changed.emplace_back(key);
    field(next) = field(running);
  };
  fixed("database", [](auto& c) -> auto& { return c.database; });
  fixed("user", [](auto& c) -> auto& { return c.user; });
  fixed("https.listen", [](auto& c) -> auto& { return c.https.listen; });
  fixed("https.threads", [](auto& c) -> auto& { return c.https.threads; });
  fixed("https.handshake_timeout", [](auto& c) -> auto& { return c.https.handshake_timeout; });
  fixed("https.header_timeout", [](auto& c) -> auto& { return c.https.header_timeout; });
  fixed("https.request_timeout", [](auto& c) -> auto& { return c.https.request_timeout; });
  fixed("https.idle_timeout", [](auto& c) -> auto& { return c.https.idle_timeout; });
  fixed("https.write_timeout", [](auto& c) -> auto& { return c.https.write_timeout; });
  fixed("https.max_connections", [](auto& c) -> auto& { return c.https.max_connections; });
  fixed("https.max_connections_per_client", [](auto& c) -> auto& { return c.https.max_connections_per_client; });
  fixed("https.max_header_bytes", [](auto& c) -> auto& { return c.https.max_header_bytes; });
  fixed("https.max_requests_per_connection", [](auto& c) -> auto& { return c.https.max_requests_per_connection; });
  fixed("https.max_body_bytes_in_flight", [](auto& c) -> auto& { return c.https.max_body_bytes_in_flight; });
  fixed("https.max_body_bytes_per_client", [](auto& c) -> auto& { return c.https.max_body_bytes_per_client; });
  fixed("admin.listen", [](auto& c) -> auto& { return c.admin.listen; });
  fixed("admin.password_file", [](auto& c) -> auto& { return c.admin.password_file; });
  fixed("admin.max_password_checks", [](auto& c) -> auto& { return c.admin.max_password_checks; });
  fixed("admin.max_failures_per_minute", [](auto& c) -> auto& { return c.admin.max_failures_per_minute; });
  fixed("store.commit_delay", [](auto& c) -> auto& { return c.store.commit_delay; });
  fixed("store.max_batch", [](auto& c) -> auto& { return c.store.max_batch; });
  fixed("store.busy_timeout", [](auto& c) -> auto& { return c.store.busy_timeout; });
  fixed("smtp.listen", [](auto& c) -> auto& { return c.smtp.listen; });
  fixed("smtp.lmtp_listen", [](auto& c) -> auto& { return c.smtp.lmtp_listen; });
  fixed("maildir.paths", [](auto& c) -> auto& { return c.maildir.paths; });
  fixed("maildir.rescan_interval", [](auto& c) -> auto& { return c.maildir.rescan_interval; });
  return changed;
}

// Rebuilding the inspection service resets its rate limits: only when it changed.
bool same_inspection(const Config& a, const Config& b) {
  return std::tie(a.inspect.enabled, a.inspect.trusted_proxies, a.inspect.max_concurrent, a.inspect.max_queued,
                  a.inspect.timeout, a.inspect.allow_private_names, a.dns.servers, a.dns.timeout) ==
         std::tie(b.inspect.enabled, b.inspect.trusted_proxies, b.inspect.max_concurrent, b.inspect.max_queued,
                  b.inspect.timeout, b.inspect.allow_private_names, b.dns.servers, b.dns.timeout);
}

// Every field but `where` (the table's file:line moves when other lines do).
auto sink_fields(const AlertSinkConfig& s) {
  return std::tie(s.type, s.path, s.to, s.from, s.smarthost, s.starttls, s.username, s.password_file, s.ca_file, s.url,
                  s.format, s.allow_private, s.timeout, s.retries);
}

// Replacing the sinks drops retries in progress: only when [alerts] changed.
bool same_alerts(const AlertsConfig& a, const AlertsConfig& b) {
  auto rules = [](const AlertsConfig& c) {
    return std::tie(c.cooldown, c.failure_ratio, c.min_sessions, c.baseline_days, c.trust_unauthenticated,
                    c.max_per_hour, c.stale_after);
  };
  auto same_sink = [](const AlertSinkConfig& x, const AlertSinkConfig& y) { return sink_fields(x) == sink_fields(y); };
  return rules(a) == rules(b) && std::ranges::equal(a.sinks, b.sinks, same_sink);
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

// The running daemon: its parts in the order they are built, torn down in reverse.
// cmd_serve() calls the steps in order; each returns an exit code when it fails.
class Service {
 public:
  // `user` is serve --user, which a reload keeps over the file's `user`.
  Service(Config cfg, const GlobalOptions& g, std::optional<std::string> user)
      : cfg_(std::move(cfg)), g_(g), user_override_(std::move(user)) {}

  int prepare_files();
  int load_admin_auth();
  int load_certificate();
  int build();
  int bind_listeners();
  int start();
  void run();

 private:
  template <class Server>
  std::optional<bool> adopt_inherited(Server& srv, const std::string& name);
  bool bind_http(HttpServer& srv, const std::vector<std::string>& addrs, const std::string& name);
  bool bind_mail(SmtpServer& srv, const std::vector<std::string>& addrs, const std::string& name);
  bool admin_exposed() const;
  void wait_signal();
  void reload();
  std::optional<Config> reread_config() const;
  void reload_intake(Config& next);
  void reload_certificate(Config& next);
  void reload_mail(const Config& next);
  void reload_inspection(const Config& next);
  void reload_alerts(Config& next);
  void drain();
  void start_watchdog();

  Config cfg_;  // what runs: after a reload, the file's values except those that need a restart
  const GlobalOptions& g_;
  const std::optional<std::string> user_override_;
  const bool root_ = geteuid() == 0;
  std::optional<ServiceUser> service_user_;
  std::shared_ptr<AdminAuth> admin_auth_;  // admin.password_file, read once at startup
  TlsContextHolder tls_;
  const unsigned threads_ = cfg_.https.threads ? cfg_.https.threads : std::max(1u, std::thread::hardware_concurrency());
  asio::io_context io_{static_cast<int>(threads_)};
  std::unique_ptr<StoreWriter> writer_;
  std::unique_ptr<Intake> intake_;  // before every channel that refers to it
  std::shared_ptr<HttpServer> https_, admin_;  // https_ holds the inspection service
  std::unique_ptr<AlertingSlot> alerting_;
  asio::thread_pool retire_pool_{1};  // drains replaced alert sinks, off the network threads
  asio::thread_pool mail_pool_{2};    // ingest + DKIM lookups, off the network threads
  std::string host_;                  // the SMTP greeting's default name
  std::shared_ptr<MessageBudget> budget_;
  std::shared_ptr<SmtpServer> smtp_, lmtp_;
  std::unique_ptr<MaildirWatcher> maildir_;
  std::size_t maildir_max_bytes_ = 0;  // fixed in the watcher: a reload cannot change it
  std::map<std::string, std::vector<int>> inherited_;  // sockets from systemd, by listener name
  asio::signal_set signals_{io_, SIGTERM, SIGINT, SIGHUP};
  bool stopping_ = false;
  std::shared_ptr<asio::steady_timer> watchdog_;
  std::shared_ptr<std::function<void()>> watchdog_tick_;  // re-arms itself through a weak pointer
};

// Folders for the database, the certificate and the key; as root, the database
// files root made go to the service user.
int Service::prepare_files() {
  auto user = service_user_for(cfg_.user, root_);
  if (!user) {
    log_error(user.error());
    return kExitConfig;
  }
  service_user_ = *user;
  for (const auto& file : {cfg_.database, cfg_.https.certificate, cfg_.https.private_key}) {
    if (auto r = prepare_dir(std::filesystem::path(file).parent_path(), service_user_, storage::kDatabaseDirMode); !r) {
      log_error(r.error());
      return kExitIoErr;
    }
  }
  if (service_user_) {
    if (auto r = hand_database_to(cfg_.database, cfg_.user, *service_user_); !r) {
      log_error(r.error());
      return kExitIoErr;
    }
  }
  tighten_database(cfg_.database, service_user_ ? service_user_->uid : geteuid(),
                   {cfg_.https.certificate, cfg_.https.private_key});
  return kExitOk;
}

// admin.password_file, read while still root (it may be readable by root only).
int Service::load_admin_auth() {
  if (cfg_.admin.password_file.empty()) return kExitOk;
  auto auth = AdminAuth::load(cfg_.admin.password_file,
                              {cfg_.admin.max_password_checks, static_cast<unsigned>(cfg_.admin.max_failures_per_minute)});
  if (!auth) {
    log_error("admin.password_file: " + auth.error());
    return kExitConfig;
  }
  admin_auth_ = std::move(*auth);
  log_info("admin: HTTP basic authentication for " + std::to_string(admin_auth_->users()) + " user(s) from " +
           cfg_.admin.password_file);
  return kExitOk;
}

int Service::load_certificate() {
  const bool generating =
      !std::filesystem::exists(cfg_.https.certificate) && !std::filesystem::exists(cfg_.https.private_key);
  auto ctx = load_tls(cfg_, true);
  if (!ctx) {
    log_error(ctx.error());
    return kExitConfig;
  }
  tls_.set(*ctx);
  // A pair we generated belongs to the service user, so a SIGHUP reload can read it.
  if (generating && service_user_)
    for (const auto& f : {cfg_.https.certificate, cfg_.https.private_key})
      if (::chown(f.c_str(), service_user_->uid, service_user_->gid) != 0)
        log_warning("cannot hand " + f + " to the service user: " + std::strerror(errno));
  return kExitOk;
}

// The store writer, the listeners' servers, alerting and the mail intake.
int Service::build() {
  StoreWriterOptions wo;
  wo.database = cfg_.database;
  wo.max_batch = cfg_.store.max_batch;
  wo.commit_delay = std::chrono::duration_cast<std::chrono::microseconds>(cfg_.store.commit_delay);
  wo.busy_timeout_ms = static_cast<int>(cfg_.store.busy_timeout.count());
  wo.min_free_disk = cfg_.limits.min_free_disk;
  writer_ = std::make_unique<StoreWriter>(wo);
  // Every channel's submissions pass the one intake; mailed reports' DKIM keys are
  // fetched through [dns].
  auto rules = intake_rules(cfg_);
  if (!rules) {
    log_error(rules.error());
    return kExitSoftware;
  }
  intake_ = std::make_unique<Intake>(std::move(*rules));
  https_ = std::make_shared<HttpServer>(io_, https_options(cfg_), *writer_, *intake_, &tls_, make_inspect(cfg_));
  admin_ = std::make_shared<HttpServer>(io_, admin_options(cfg_, admin_auth_), *writer_, *intake_, nullptr);

  // Alerts run on the writer thread once its queue is empty, for what the commits since
  // the last evaluation stored (docs/architecture.md#5-alerts).
  // A reload replaces the Alerting in the slot, so the hook asks the slot each time.
  auto alerting = Alerting::create(cfg_.alerts, log_alert_line);
  if (!alerting) {
    log_error(alerting.error());
    return kExitConfig;
  }
  alerting_ = std::make_unique<AlertingSlot>(std::move(*alerting));
  writer_->set_after_commit([a = alerting_.get()](storage::Db& db, std::span<const std::int64_t> ids, bool auth) {
    a->after_commit(db, ids, auth);
  });

  host_ = host_name();
  budget_ = std::make_shared<MessageBudget>(mail_budget_limit(cfg_));
  // The SMTP server always gets the certificate: smtp.starttls decides, and may change on reload.
  smtp_ = std::make_shared<SmtpServer>(io_, smtp_options(cfg_, false, host_, budget_), *writer_, *intake_, mail_pool_,
                                       &tls_);
  lmtp_ = std::make_shared<SmtpServer>(io_, smtp_options(cfg_, true, host_, budget_), *writer_, *intake_, mail_pool_,
                                       nullptr);
  if (!cfg_.maildir.paths.empty()) {
    maildir_max_bytes_ = cfg_.smtp.max_message_bytes;
    maildir_ = std::make_unique<MaildirWatcher>(cfg_.maildir.paths, cfg_.maildir.rescan_interval, *writer_, *intake_,
                                                maildir_max_bytes_);
  }
  return kExitOk;
}

// Sockets from systemd replace the configured addresses of their listener: nullopt
// when it got none, else whether adopting them worked.
template <class Server>
std::optional<bool> Service::adopt_inherited(Server& srv, const std::string& name) {
  auto it = inherited_.find(name);
  if (it == inherited_.end()) return std::nullopt;
  for (int fd : it->second) {
    if (auto r = srv.adopt(fd); !r) {
      log_error(name + ": " + r.error());
      return false;
    }
  }
  return true;
}

bool Service::bind_http(HttpServer& srv, const std::vector<std::string>& addrs, const std::string& name) {
  if (auto adopted = adopt_inherited(srv, name)) return *adopted;
  for (const auto& a : addrs) {
    if (auto r = srv.listen(a); !r) {
      log_error(name + ": " + r.error());
      return false;
    }
  }
  return true;
}

// A unix: socket's folder is made for the service user, and the socket belongs to it.
bool Service::bind_mail(SmtpServer& srv, const std::vector<std::string>& addrs, const std::string& name) {
  if (auto adopted = adopt_inherited(srv, name)) return *adopted;
  auto fail = [&](const std::string& why) {
    log_error(name + ": " + why);
    return false;
  };
  std::optional<std::pair<uid_t, gid_t>> owner;
  if (service_user_) owner = std::pair{service_user_->uid, service_user_->gid};
  for (const auto& a : addrs) {
    if (a.starts_with("unix:"))
      if (auto r = prepare_dir(std::filesystem::path(a.substr(5)).parent_path(), service_user_); !r)
        return fail(r.error());
    if (auto r = srv.listen(a, owner); !r) return fail(r.error());
  }
  return true;
}

// The admin listener as bound (systemd's sockets included) reaches beyond loopback
// without admin.password_file: refused, naming both keys.
bool Service::admin_exposed() const {
  if (admin_auth_) return false;
  for (const auto& ep : admin_->local_endpoints())
    if (!is_loopback_listen(ep)) {
      log_error(admin_exposed_message(ep));
      return true;
    }
  return false;
}

// Binds every listener (as root if needed), then drops privileges.
int Service::bind_listeners() {
  inherited_ = systemd::listen_fds();
  if (!bind_http(*https_, cfg_.https.listen, "https") || !bind_http(*admin_, cfg_.admin.listen, "admin") ||
      !bind_mail(*smtp_, cfg_.smtp.listen, "smtp") || !bind_mail(*lmtp_, cfg_.smtp.lmtp_listen, "lmtp"))
    return kExitOsErr;
  if (admin_exposed()) return kExitConfig;
  if (root_) {
    if (auto r = drop_privileges(cfg_.user); !r) {
      log_error(r.error());
      return kExitOsErr;
    }
    log_info("dropped privileges to user " + cfg_.user);
  }
  return kExitOk;
}

// Opens the database, starts accepting, and tells systemd.
int Service::start() {
  if (auto r = writer_->start(); !r) {
    log_error("database " + cfg_.database + ": " + r.error());
    return kExitIoErr;
  }
  if (maildir_) {
    if (auto r = maildir_->start(); !r) {
      log_error("maildir: " + r.error());
      return kExitConfig;
    }
  }
  https_->start();
  admin_->start();
  smtp_->start();
  lmtp_->start();
  for (const auto& ep : smtp_->local_endpoints()) log_notice("smtp: listening on " + ep);
  for (const auto& ep : lmtp_->local_endpoints()) log_notice("lmtp: listening on " + ep);
  for (const auto& p : cfg_.maildir.paths) log_notice("maildir: watching " + p);
  for (const auto& ep : https_->local_endpoints())
    log_notice("https: listening on " + ep + " (POST " + cfg_.https.path + ")");
  for (const auto& ep : admin_->local_endpoints())
    log_notice("admin: listening on " + ep + " (GET /metrics, /healthz)");
  metrics().set("tlsrptd_start_time_seconds", {},
                std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  wait_signal();
  start_watchdog();
  systemd::notify("READY=1\nSTATUS=accepting reports");
  log_notice("tlsrptd ready (" + std::to_string(threads_) + " network threads, database " + cfg_.database + ")");
  return kExitOk;
}

// SIGTERM/SIGINT drain and exit 0; SIGHUP reloads.
void Service::wait_signal() {
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      reload();
      wait_signal();
    } else if (!stopping_) {
      drain();
    }
  });
}

// SIGHUP (README.md#deployment-with-systemd): the config file again. Every setting
// that needs no new socket or thread applies to what starts afterwards (requests,
// sessions, batches); requests and sessions in flight finish under the old ones.
// Settings that need a restart are named in one warning. A part that cannot be
// set up (a certificate, an alert sink) keeps its old settings and says so.
void Service::reload() {
  auto next = reread_config();
  if (!next) return;
  std::vector<std::string> fixed = keep_restart_only(*next, cfg_);
  // The watcher's message cap is fixed; SMTP and LMTP take the new one.
  if (maildir_ && next->smtp.max_message_bytes != maildir_max_bytes_)
    fixed.emplace_back("smtp.max_message_bytes (Maildir)");
  LogLevel lvl = LogLevel::info;
  log_level_from_token(next->log_level, lvl);
  set_log_level(lvl);
  reload_intake(*next);
  reload_certificate(*next);
  reload_mail(*next);
  reload_inspection(*next);
  reload_alerts(*next);
  if (!fixed.empty())
    log_warning("reload: changed settings that only a restart applies (their running values stay): " + joined(fixed));
  cfg_ = std::move(*next);
  log_notice("reload: applied " + (g_.config ? *g_.config : std::string("the built-in defaults")));
}

// The file as at startup: --config (or the file found then), --db and --user win.
// Nullopt, logged, when it does not load: everything keeps running as it is.
std::optional<Config> Service::reread_config() const {
  if (!g_.config) return cfg_;
  auto r = load_config(*g_.config);
  if (!r) {
    for (const auto& e : r.error()) log_error("reload: " + e.text());
    log_error("reload: the configuration has errors; nothing was changed");
    return std::nullopt;
  }
  if (g_.db) r->database = *g_.db;
  if (user_override_) r->user = *user_override_;
  return std::move(*r);
}

// Limits, domains, DKIM and its DNS for every channel; the HTTP policy follows the
// limits the intake actually has.
void Service::reload_intake(Config& next) {
  if (auto rules = intake_rules(next)) {
    intake_->set_rules(std::move(*rules));
    writer_->set_min_free_disk(next.limits.min_free_disk);
  } else {
    log_error("reload: keeping the old limits, domains, DKIM and DNS settings: " + rules.error());
    next.limits = cfg_.limits;
    next.domains = cfg_.domains;
    next.smtp.dkim = cfg_.smtp.dkim;
    next.smtp.trusted_authserv_ids = cfg_.smtp.trusted_authserv_ids;
    next.dns = cfg_.dns;
  }
  https_->set_policy(policy_from(next, false));
  admin_->set_policy(policy_from(next, true));
}

// The certificate is read again even when its paths did not change: renewal.
void Service::reload_certificate(Config& next) {
  auto ctx = load_tls(next, false);
  if (ctx) {
    tls_.set(*ctx);
    return;
  }
  log_error("reload: keeping the old certificate: " + ctx.error());
  next.https.certificate = cfg_.https.certificate;
  next.https.private_key = cfg_.https.private_key;
}

// New SMTP/LMTP sessions get the new options. A changed in-flight cap gets a new
// budget: until the sessions that began before the reload end, they keep counting
// against the old one.
void Service::reload_mail(const Config& next) {
  if (mail_budget_limit(next) != budget_->limit()) budget_ = std::make_shared<MessageBudget>(mail_budget_limit(next));
  smtp_->set_options(smtp_options(next, false, host_, budget_));
  lmtp_->set_options(smtp_options(next, true, host_, budget_));
}

void Service::reload_inspection(const Config& next) {
  if (!next.inspect.enabled) https_->set_inspect(nullptr);
  else if (!https_->inspect() || !same_inspection(next, cfg_)) https_->set_inspect(make_inspect(next));
}

// The new sinks take the next batch's alerts at once; the old ones deliver what they
// hold on the retire thread (up to kAlertDrain), never on a network thread.
void Service::reload_alerts(Config& next) {
  if (same_alerts(next.alerts, cfg_.alerts)) return;
  auto fresh = Alerting::create(next.alerts, log_alert_line);
  if (!fresh) {
    log_error("reload: keeping the old alert settings and sinks: " + fresh.error());
    next.alerts = cfg_.alerts;
    return;
  }
  auto old = alerting_->replace(std::shared_ptr<Alerting>(std::move(*fresh)));
  asio::post(retire_pool_, [slot = alerting_.get(), old = std::move(old)]() mutable {
    slot->retire(std::move(old), kAlertDrain);
  });
}

// Stops accepting, lets the connections in flight finish (up to shutdown_timeout),
// then stops the event loop.
void Service::drain() {
  stopping_ = true;
  systemd::notify("STOPPING=1");
  log_notice("stopping: finishing requests in flight (up to " +
             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(cfg_.shutdown_timeout).count()) + "s)");
  https_->stop_accepting();
  admin_->stop_accepting();
  smtp_->stop_accepting();
  lmtp_->stop_accepting();
  InspectService::stop_all();  // inspections under way answer now, cut
  if (admin_auth_) admin_auth_->stop();  // password checks not yet hashed answer 503 now
  if (maildir_) maildir_->stop();
  auto open = [this] {
    return https_->open_connections() + admin_->open_connections() + smtp_->open_connections() +
           lmtp_->open_connections();
  };
  asio::co_spawn(
      io_,
      [this, open]() -> asio::awaitable<void> {
        const auto deadline = std::chrono::steady_clock::now() + cfg_.shutdown_timeout;
        asio::steady_timer t(io_);
        while (open() > 0 && std::chrono::steady_clock::now() < deadline) {
          t.expires_after(std::chrono::milliseconds(20));
          co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        io_.stop();
      },
      asio::detached);
}

// Pings systemd's watchdog only while the store can still start a transaction.
void Service::start_watchdog() {
  auto interval = systemd::watchdog_interval();
  if (!interval) return;
  watchdog_ = std::make_shared<asio::steady_timer>(io_);
  auto tick = std::make_shared<std::function<void()>>();
  *tick = [this, period = *interval / 2, weak = std::weak_ptr(tick)] {
    watchdog_->expires_after(period);
    watchdog_->async_wait([this, weak](const boost::system::error_code& ec) {
      if (ec) return;
      writer_->probe([](bool ok) {
        if (ok) systemd::notify("WATCHDOG=1");
      });
      if (auto t = weak.lock()) (*t)();
    });
  };
  (*tick)();
  watchdog_tick_ = tick;
}

// Runs the event loop on every network thread until drain() stops it, then winds
// down the mail pool, the store writer and the alert sinks.
void Service::run() {
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads_; ++i) pool.emplace_back([this] { io_.run(); });
  io_.run();
  for (auto& t : pool) t.join();
  InspectService::drain_all();  // before the event loop they complete on goes away
  if (admin_auth_) admin_auth_->join();  // the hashing thread, likewise
  if (maildir_) maildir_->stop();
  mail_pool_.join();
  writer_->stop();
  retire_pool_.join();
  alerting_->current()->shutdown(kAlertDrain);
  log_notice("stopped");
}

}  // namespace

int cmd_serve(const GlobalOptions& g, const ServeOptions& o) {
  ::signal(SIGPIPE, SIG_IGN);
  auto loaded = resolve_config(g.config, g.db);
  if (!loaded) {
    for (const auto& e : loaded.error()) log_error(e.text());
    return kExitConfig;
  }
  if (!o.user.empty()) loaded->user = o.user;
  LogLevel level = LogLevel::info;
  log_level_from_token(loaded->log_level, level);
  set_log_level(level);
  for (const auto& note : loaded->notes) log_info("config: " + note);

  Service service(std::move(*loaded), g, o.user.empty() ? std::nullopt : std::optional<std::string>(o.user));
  for (int (Service::*step)() : {&Service::prepare_files, &Service::load_admin_auth, &Service::load_certificate,
                                 &Service::build, &Service::bind_listeners, &Service::start})
    if (int rc = (service.*step)(); rc != kExitOk) return rc;
  service.run();
  return kExitOk;
}

}  // namespace tlsrpt::daemon
