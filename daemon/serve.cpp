// `tlsrptd serve`: the long-running daemon. Startup problems are fatal with a clear
// message and a sysexits code; afterwards nothing from the network can stop it.
// Order: config -> TLS material -> listeners (as root if needed) -> drop privileges
// -> database -> READY. SIGTERM drains, SIGHUP reloads.
#include <grp.h>
#include <pwd.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
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
#include <thread>
#include <vector>

#include "daemon/cli/commands.hpp"
#include "daemon/config.hpp"
#include "daemon/exit_codes.hpp"
#include "daemon/intake/alerting.hpp"
#include "daemon/intake/mail_intake.hpp"
#include "daemon/intake/maildir_watcher.hpp"
#include "daemon/intake/store_writer.hpp"
#include "daemon/log.hpp"
#include "daemon/metrics.hpp"
#include "daemon/net/http_server.hpp"
#include "daemon/net/smtp_server.hpp"
#include "daemon/net/tls.hpp"
#include "daemon/systemd.hpp"
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
  for (const auto& d : cfg.domains) p.domains.push_back(normalize_domain(d).value_or(ascii_lower(d)));
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
  o.max_connections = cfg.smtp.max_connections;
  o.max_connections_per_client = cfg.smtp.max_connections_per_client;
  return o;
}

HttpServerOptions admin_options(const Config& cfg) {
  HttpServerOptions o = https_options(cfg);
  o.name = "admin";
  o.tls = false;
  o.policy = policy_from(cfg, true);
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

struct ServiceUser {
  uid_t uid = 0;
  gid_t gid = 0;
};

// Creates the missing folders of `dir`; those it creates belong to the service
// user, so the unprivileged daemon can write its database there (like systemd's
// StateDirectory=). Existing folders are left as they are.
std::expected<void, std::string> prepare_dir(const std::filesystem::path& dir, const std::optional<ServiceUser>& owner) {
  namespace fs = std::filesystem;
  if (dir.empty()) return {};
  std::vector<fs::path> created;
  for (fs::path p = dir; !p.empty() && !fs::exists(p); p = p.parent_path()) {
    created.push_back(p);
    if (p == p.parent_path()) break;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return std::unexpected("cannot create " + dir.string() + ": " + ec.message());
  if (owner)
    for (const auto& p : created)
      if (::chown(p.c_str(), owner->uid, owner->gid) != 0)
        return std::unexpected("cannot hand " + p.string() + " to the service user: " + std::strerror(errno));
  return {};
}

// A database that root made (`tlsrptd report import` or `stats` run as root before
// the daemon ever started) is read-only for the service user, and SQLite says only
// "attempt to write a readonly database". So root-owned database files are handed to
// the service user before privileges are dropped, as systemd's StateDirectory= does.
// Only plain files with one link, opened without following symbolic links (those are
// left alone): the folder may be writable by the service user, which must not get
// root to chown anything else.
// The folder itself is not changed (it may be shared); when the service user cannot
// write there (SQLite creates the -wal and -shm files beside the database) the
// daemon says so, first, and does not start.
std::expected<void, std::string> hand_database_to(const std::string& database, const std::string& user,
                                                  const ServiceUser& owner) {
  const std::filesystem::path dir = std::filesystem::path(database).parent_path();
  const std::string dir_text = dir.empty() ? "." : dir.string();
  struct stat st {};
  if (::stat(dir_text.c_str(), &st) != 0) return std::unexpected("cannot stat " + dir_text + ": " + std::strerror(errno));
  bool writable = (st.st_mode & S_IWOTH) || (st.st_uid == owner.uid && (st.st_mode & S_IWUSR));
  if (!writable && (st.st_mode & S_IWGRP)) {
    int n = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    if (getgrouplist(user.c_str(), owner.gid, groups.data(), &n) >= 0)
      writable = std::find(groups.begin(), groups.begin() + n, st.st_gid) != groups.begin() + n;
    else
      writable = true;  // more than 64 groups: let SQLite decide
  }
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  if (owner.uid != 0 && !writable)
    return std::unexpected("the database folder " + dir_text + " is not writable by " + user + " (owner uid " +
                           std::to_string(st.st_uid) + ", mode " + mode +
                           "): SQLite creates the -wal and -shm files there; chown " + user + ": " + dir_text +
                           ", or set [store] database to a folder " + user + " may write");
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const std::string f = database + suffix;
    int fd = ::open(f.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT || errno == ELOOP) continue;  // a symbolic link is left as it is
      return std::unexpected("cannot open " + f + ": " + std::strerror(errno));
    }
    struct stat fst {};
    std::string error;
    if (::fstat(fd, &fst) != 0)
      error = "cannot stat " + f + ": " + std::strerror(errno);
    else if (fst.st_uid == 0 && owner.uid != 0) {
      if (!S_ISREG(fst.st_mode) || fst.st_nlink != 1)
        error = f + " belongs to root and is not a plain file with one link: not handing it to " + user;
      else if (::fchown(fd, owner.uid, owner.gid) != 0)
        error = "cannot hand " + f + " to " + user + ": " + std::strerror(errno);
      else
        log_notice("handed " + f + " (made by root) to the service user " + user);
    }
    ::close(fd);
    if (!error.empty()) return std::unexpected(error);
  }
  return {};
}

std::expected<void, std::string> drop_privileges(const std::string& user) {
  errno = 0;
  struct passwd* pw = getpwnam(user.c_str());
  if (!pw) return std::unexpected("user \"" + user + "\" does not exist");
  if (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
    return std::unexpected("cannot switch to user \"" + user + "\": " + std::strerror(errno));
  if (setuid(0) == 0) return std::unexpected("privileges were not dropped (setuid(0) still works)");
  return {};
}

}  // namespace

int cmd_serve(const GlobalOptions& g, const ServeOptions& o) {
  ::signal(SIGPIPE, SIG_IGN);
  auto loaded = resolve_config(g.config, g.db);
  if (!loaded) {
    for (const auto& e : loaded.error()) log_error(e.text());
    return kExitConfig;
  }
  Config cfg = std::move(*loaded);
  if (!o.user.empty()) cfg.user = o.user;
  LogLevel level = LogLevel::info;
  log_level_from_token(cfg.log_level, level);
  set_log_level(level);

  // Running as root is only acceptable for binding low ports and reading the key;
  // the network-facing code never runs with root privileges.
  const bool root = geteuid() == 0;
  if (root && cfg.user.empty()) {
    log_error("refusing to run as root: set user = \"tlsrptd\" (or pass --user) to drop privileges after "
              "binding, or start tlsrptd as an unprivileged user (systemd: DynamicUser=yes)");
    return kExitConfig;
  }
  if (!root && !cfg.user.empty()) {
    struct passwd* pw = getpwnam(cfg.user.c_str());
    if (!pw || pw->pw_uid != geteuid()) {
      log_error("user = \"" + cfg.user + "\" is set, but tlsrptd is not root and cannot switch to it");
      return kExitConfig;
    }
  }

  std::optional<ServiceUser> service_user;
  if (root) {
    struct passwd* pw = getpwnam(cfg.user.c_str());
    if (!pw) {
      log_error("user \"" + cfg.user + "\" does not exist (create it: useradd --system --no-create-home " + cfg.user + ")");
      return kExitConfig;
    }
    service_user = ServiceUser{pw->pw_uid, pw->pw_gid};
  }
  for (const auto& file : {cfg.database, cfg.https.certificate, cfg.https.private_key}) {
    if (auto r = prepare_dir(std::filesystem::path(file).parent_path(), service_user); !r) {
      log_error(r.error());
      return kExitIoErr;
    }
  }
  if (service_user) {
    if (auto r = hand_database_to(cfg.database, cfg.user, *service_user); !r) {
      log_error(r.error());
      return kExitIoErr;
    }
  }

  TlsContextHolder tls;
  {
    const bool generating = !std::filesystem::exists(cfg.https.certificate) && !std::filesystem::exists(cfg.https.private_key);
    auto ctx = load_tls(cfg, true);
    if (!ctx) {
      log_error(ctx.error());
      return kExitConfig;
    }
    tls.set(*ctx);
    // A pair we generated belongs to the service user, so a SIGHUP reload can read it.
    if (generating && service_user)
      for (const auto& f : {cfg.https.certificate, cfg.https.private_key})
        if (::chown(f.c_str(), service_user->uid, service_user->gid) != 0)
          log_warning("cannot hand " + f + " to the service user: " + std::strerror(errno));
  }

  const unsigned threads = cfg.https.threads ? cfg.https.threads : std::max(1u, std::thread::hardware_concurrency());
  asio::io_context io(static_cast<int>(threads));

  StoreWriterOptions wo;
  wo.database = cfg.database;
  wo.max_batch = cfg.store.max_batch;
  wo.commit_delay = std::chrono::duration_cast<std::chrono::microseconds>(cfg.store.commit_delay);
  wo.busy_timeout_ms = static_cast<int>(cfg.store.busy_timeout.count());
  StoreWriter writer(wo);

  std::unique_ptr<InspectService> inspect;
  if (cfg.inspect.enabled) {
    InspectServiceOptions io_opts;
    io_opts.dns_servers = cfg.dns.servers;
    io_opts.dns_timeout = cfg.dns.timeout;
    io_opts.max_concurrent = cfg.inspect.max_concurrent;
    io_opts.trusted_proxies = cfg.inspect.trusted_proxies;
    inspect = std::make_unique<InspectService>(io_opts);
  }
  auto https = std::make_shared<HttpServer>(io, https_options(cfg), writer, &tls, inspect.get());
  auto admin = std::make_shared<HttpServer>(io, admin_options(cfg), writer, nullptr);

  // Alerts: run after each commit on the writer thread (design §1 hop [5]).
  auto alerting = Alerting::create(cfg.alerts, [](std::string_view line) { log_notice(line); });
  if (!alerting) {
    log_error(alerting.error());
    return kExitConfig;
  }
  writer.set_after_commit([a = alerting->get()](storage::Db& db, std::span<const std::int64_t> ids, bool auth) {
    a->after_commit(db, ids, auth);
  });

  // Mailed reports: the DKIM policy (RFC 8460 §3) with keys fetched through [dns].
  std::shared_ptr<DkimVerifier> verifier;
  if (cfg.smtp.dkim != DkimPolicy::off) {
    auto v = DkimVerifier::create(make_txt_lookup(cfg.dns.servers, cfg.dns.timeout));
    if (!v) {
      log_error("dkim: " + v.error());
      return kExitSoftware;
    }
    verifier = std::move(*v);
  }
  MailIntake intake(cfg.smtp.dkim, cfg.smtp.trusted_authserv_ids, verifier);
  asio::thread_pool mail_pool(2);  // ingest + DKIM lookups, off the network threads
  const std::string host = host_name();
  // One budget for both listeners: what matters is the process's memory.
  auto budget = std::make_shared<MessageBudget>(std::max(cfg.smtp.max_message_bytes_in_flight, cfg.smtp.max_message_bytes));
  auto smtp = std::make_shared<SmtpServer>(io, smtp_options(cfg, false, host, budget), writer, intake, mail_pool,
                                           cfg.smtp.starttls ? &tls : nullptr);
  auto lmtp = std::make_shared<SmtpServer>(io, smtp_options(cfg, true, host, budget), writer, intake, mail_pool,
                                           nullptr);
  std::unique_ptr<MaildirWatcher> maildir;
  if (!cfg.maildir.paths.empty())
    maildir = std::make_unique<MaildirWatcher>(cfg.maildir.paths, cfg.maildir.rescan_interval, writer, intake,
                                               cfg.smtp.max_message_bytes);

  // Sockets from systemd replace the configured addresses of their listener.
  auto inherited = systemd::listen_fds();
  auto bind_all = [&](HttpServer& srv, const std::vector<std::string>& addrs, const std::string& name) -> bool {
    if (auto it = inherited.find(name); it != inherited.end()) {
      for (int fd : it->second)
        if (auto r = srv.adopt(fd); !r) {
          log_error(name + ": " + r.error());
          return false;
        }
      return true;
    }
    for (const auto& a : addrs)
      if (auto r = srv.listen(a); !r) {
        log_error(name + ": " + r.error());
        return false;
      }
    return true;
  };
  if (!bind_all(*https, cfg.https.listen, "https") || !bind_all(*admin, cfg.admin.listen, "admin")) return kExitOsErr;
  std::optional<std::pair<uid_t, gid_t>> owner;
  if (service_user) owner = std::pair{service_user->uid, service_user->gid};
  for (auto [srv, addrs, name] : {std::tuple{smtp.get(), &cfg.smtp.listen, "smtp"}, std::tuple{lmtp.get(), &cfg.smtp.lmtp_listen, "lmtp"}}) {
    if (auto it = inherited.find(name); it != inherited.end()) {
      for (int fd : it->second)
        if (auto r = srv->adopt(fd); !r) {
          log_error(std::string(name) + ": " + r.error());
          return kExitOsErr;
        }
      continue;
    }
    for (const auto& a : *addrs) {
      if (a.starts_with("unix:"))
        if (auto r = prepare_dir(std::filesystem::path(a.substr(5)).parent_path(), service_user); !r) {
          log_error(std::string(name) + ": " + r.error());
          return kExitOsErr;
        }
      if (auto r = srv->listen(a, owner); !r) {
        log_error(std::string(name) + ": " + r.error());
        return kExitOsErr;
      }
    }
  }

  if (root) {
    if (auto r = drop_privileges(cfg.user); !r) {
      log_error(r.error());
      return kExitOsErr;
    }
    log_info("dropped privileges to user " + cfg.user);
  }

  if (auto r = writer.start(); !r) {
    log_error("database " + cfg.database + ": " + r.error());
    return kExitIoErr;
  }

  if (maildir) {
    if (auto r = maildir->start(); !r) {
      log_error("maildir: " + r.error());
      return kExitConfig;
    }
  }
  https->start();
  admin->start();
  smtp->start();
  lmtp->start();
  for (const auto& ep : smtp->local_endpoints()) log_notice("smtp: listening on " + ep);
  for (const auto& ep : lmtp->local_endpoints()) log_notice("lmtp: listening on " + ep);
  for (const auto& p : cfg.maildir.paths) log_notice("maildir: watching " + p);
  for (const auto& ep : https->local_endpoints()) log_notice("https: listening on " + ep + " (POST " + cfg.https.path + ")");
  for (const auto& ep : admin->local_endpoints()) log_notice("admin: listening on " + ep + " (GET /metrics, /healthz)");
  metrics().set("tlsrptd_start_time_seconds", {},
                std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());

  // Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads.
  asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  bool stopping = false;
  std::function<void()> wait_signal;
  wait_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        std::optional<Config> fresh = cfg;
        if (g.config) {
          auto r = load_config(*g.config);
          if (!r) {
            for (const auto& e : r.error()) log_error("reload: " + e.text());
            fresh.reset();
          } else {
            fresh = std::move(*r);
            if (g.db) fresh->database = *g.db;
          }
        }
        if (fresh) {
          LogLevel lvl = LogLevel::info;
          log_level_from_token(fresh->log_level, lvl);
          set_log_level(lvl);
          https->set_policy(policy_from(*fresh, false));
          admin->set_policy(policy_from(*fresh, true));
          if (auto ctx = load_tls(*fresh, false); ctx) {
            tls.set(*ctx);
            log_notice("reload: configuration and certificate reloaded");
          } else {
            log_error("reload: keeping the old certificate: " + ctx.error());
          }
          if (fresh->https.listen != cfg.https.listen || fresh->database != cfg.database || fresh->user != cfg.user)
            log_warning("reload: listen addresses, database and user change only on restart");
        }
        wait_signal();
        return;
      }
      if (stopping) return;
      stopping = true;
      systemd::notify("STOPPING=1");
      log_notice("stopping: finishing requests in flight (up to " +
                 std::to_string(std::chrono::duration_cast<std::chrono::seconds>(cfg.shutdown_timeout).count()) + "s)");
      https->stop_accepting();
      admin->stop_accepting();
      smtp->stop_accepting();
      lmtp->stop_accepting();
      if (maildir) maildir->stop();
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            auto deadline = std::chrono::steady_clock::now() + cfg.shutdown_timeout;
            asio::steady_timer t(io);
            while (https->open_connections() + admin->open_connections() + smtp->open_connections() +
                           lmtp->open_connections() > 0 &&
                   std::chrono::steady_clock::now() < deadline) {
              t.expires_after(std::chrono::milliseconds(20));
              co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
            }
            io.stop();
          },
          asio::detached);
    });
  };
  wait_signal();

  // Watchdog: ping systemd only while the store can still start a transaction.
  std::shared_ptr<asio::steady_timer> watchdog;
  if (auto interval = systemd::watchdog_interval()) {
    watchdog = std::make_shared<asio::steady_timer>(io);
    auto period = *interval / 2;
    auto tick_ptr = std::make_shared<std::function<void()>>();
    *tick_ptr = [&, period, tick_ptr] {
      watchdog->expires_after(period);
      watchdog->async_wait([&, tick_ptr](const boost::system::error_code& ec) {
        if (ec) return;
        writer.probe([](bool ok) {
          if (ok) systemd::notify("WATCHDOG=1");
        });
        (*tick_ptr)();
      });
    };
    (*tick_ptr)();
  }

  systemd::notify("READY=1\nSTATUS=accepting reports");
  log_notice("tlsrptd ready (" + std::to_string(threads) + " network threads, database " + cfg.database + ")");

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  if (maildir) maildir->stop();
  mail_pool.join();
  writer.stop();
  (*alerting)->shutdown(std::chrono::seconds(10));
  log_notice("stopped");
  return kExitOk;
}

}  // namespace tlsrpt::daemon
