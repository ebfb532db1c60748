// Each connection is a coroutine that carries out the engine's actions in order:
// replies (batched into one write, delayed when the engine says so), STARTTLS (a
// fresh TLS stream over the socket; the engine already discarded what followed the
// command, and this wrapper keeps no read-ahead of its own), deliveries (ingest and
// DKIM on the worker pool, then the store writer), close. One timer per connection
// enforces the engine's deadline() by cancelling the pending read or handshake.
#include "daemon/net/smtp_server.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <deque>
#include <filesystem>

#include "daemon/config.hpp"
#include "daemon/intake/async_store.hpp"
#include "daemon/log.hpp"
#include "daemon/metrics.hpp"
#include "daemon/net/client_key.hpp"
#include "parser/text.hpp"

namespace tlsrpt::daemon {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

struct SmtpServer::Conn {
  asio::any_io_executor executor;
  std::function<void()> close;  // runs on `executor`
  std::function<bool()> evict;  // runs on `executor`: 421 4.7.0 and close if still idle; false if not
  std::atomic<bool> idle{false};  // greeted, no MAIL FROM yet (EHLO, between mails): may be evicted
  bool evicted = false;          // chosen by evict_idle() (guarded by the registry's lock)
};

namespace {

// Before MAIL FROM (or between mails), and not in STARTTLS: what eviction may end.
bool evictable(const SmtpSession& s) {
  const auto p = s.phase();
  return (p == SmtpSession::Phase::greeting || p == SmtpSession::Phase::command) && !s.in_transaction();
}

// The reply-table row of `o` as an SMTP reply line naming this host.
SmtpReply connection_reply(Outcome o, const std::string& hostname) {
  const Reply& r = reply_for(o);
  return make_reply(r.smtp_code, r.enhanced, hostname + " " + std::string(r.text));
}

// A connection refused at accept gets its 421 4.7.0 line (one non-blocking write into
// a fresh socket's empty send buffer: it never waits on the peer) and is closed.
template <class Socket>
void refuse(Socket& sock, Outcome o, const std::string& hostname) {
  const std::string line = connection_reply(o, hostname).wire();
  boost::system::error_code ec;
  sock.non_blocking(true, ec);
  if (!ec) sock.write_some(asio::buffer(line), ec);
  sock.shutdown(Socket::shutdown_send, ec);
  sock.close(ec);
}

}  // namespace

// The coroutine bodies, with access to the server's private parts.
struct SmtpRunner {
  SmtpServer& srv;
  std::shared_ptr<SmtpServer::Conn> conn;
  std::string peer;
  std::shared_ptr<const SmtpServer::Settings> settings;  // as when the connection was accepted

  template <class Socket>
  struct Io {
    Socket& sock;
    std::unique_ptr<asio::ssl::stream<Socket&>> tls;
    asio::steady_timer timer;
    bool fired = false;

    // Arms the deadline: when it passes, the pending operation is cancelled.
    void arm(std::optional<SmtpTime> deadline) {
      fired = false;
      if (!deadline) {
        timer.cancel();
        return;
      }
      timer.expires_at(*deadline);
      timer.async_wait([this](const boost::system::error_code& ec) {
        if (ec) return;
        fired = true;
        boost::system::error_code ignored;
        sock.cancel(ignored);
      });
    }
    void disarm() { timer.cancel(); }
  };

  template <class Socket>
  asio::awaitable<bool> flush(Io<Socket>& io, std::string& out) {
    if (out.empty()) co_return true;
    io.arm(SmtpClock::now() + settings->options.write_timeout);
    boost::system::error_code ec;
    if (io.tls)
      std::tie(ec, std::ignore) = co_await asio::async_write(*io.tls, asio::buffer(out), kAwait);
    else
      std::tie(ec, std::ignore) = co_await asio::async_write(io.sock, asio::buffer(out), kAwait);
    io.disarm();
    out.clear();
    co_return !ec;
  }

  template <class Socket>
  asio::awaitable<MessageResult> deliver(const DeliverMessage& d) {
    auto ex = co_await asio::this_coro::executor;
    Submission sub;
    sub.transport = srv.options_.session.lmtp ? Transport::lmtp : Transport::smtp;
    sub.source = srv.options_.name + " " + peer + " helo=" + escape_line(d.envelope.helo, 100) + " from=<" +
                 escape_line(d.envelope.mail_from, 200) + ">";
    sub.media_type = "message/rfc822";
    sub.client = client_key(peer);  // nullopt on a unix socket: not budgeted
    sub.bytes = d.data;
    sub.received_at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    // Ingest and DKIM (DNS lookups) block: off the network thread.
    co_await asio::post(srv.pool_, asio::use_awaitable);
    IntakeDecision dec = srv.intake_.check(sub);
    co_await asio::post(ex, asio::use_awaitable);
    if (dec.kind == IntakeDecision::Kind::reject || dec.kind == IntakeDecision::Kind::retry_later) {
      log_outcome(sub, dec, dec.outcome);
      co_return MessageResult{dec.outcome, dec.detail};
    }
    StoreResult r = co_await async_store(srv.writer_, std::move(*dec.report), dec.provenance, std::string(d.data),
                                         dec.hold_reason, asio::use_awaitable);
    log_outcome(sub, dec, r.outcome, r.detail);
    co_return MessageResult{r.outcome, {}};
  }

  // Carries out `actions` and whatever they lead to; false when the connection ends.
  template <class Socket>
  asio::awaitable<bool> perform(SmtpSession& s, Io<Socket>& io, SmtpActions actions) {
    std::deque<SmtpAction> queue(std::make_move_iterator(actions.begin()), std::make_move_iterator(actions.end()));
    std::string out;
    auto prepend = [&](SmtpActions more) {
      queue.insert(queue.begin(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    };
    while (!queue.empty()) {
      SmtpAction action = std::move(queue.front());
      queue.pop_front();
      if (auto* r = std::get_if<SendReply>(&action)) {
        if (r->not_before && *r->not_before > SmtpClock::now()) {
          // The error sleep: nothing is written before it ends.
          if (!co_await flush(io, out)) co_return false;
          asio::steady_timer t(io.sock.get_executor(), *r->not_before);
          co_await t.async_wait(kAwait);
        }
        out += r->reply.wire();
      } else if (auto* t = std::get_if<StartTls>(&action)) {
        if (!co_await flush(io, out)) co_return false;
        auto ctx = srv.tls_ ? srv.tls_->get() : nullptr;
        if (!ctx) co_return false;
        if (t->discarded_bytes)
          log_info(srv.options_.name + ": " + peer + ": discarded " + std::to_string(t->discarded_bytes) +
                   " bytes sent after STARTTLS");
        io.tls = std::make_unique<asio::ssl::stream<Socket&>>(io.sock, *ctx);
        io.arm(s.deadline());
        auto [ec] = co_await io.tls->async_handshake(asio::ssl::stream_base::server, kAwait);
        io.disarm();
        if (ec) {
          metrics().inc("tlsrptd_tls_handshake_failures_total", {{"listener", srv.options_.name}});
          co_return false;
        }
        prepend(s.tls_established(SmtpClock::now()));
      } else if (auto* d = std::get_if<DeliverMessage>(&action)) {
        if (!co_await flush(io, out)) co_return false;
        MessageResult result = co_await deliver<Socket>(*d);
        prepend(s.complete_message(result, SmtpClock::now()));
      } else if (auto* c = std::get_if<CloseConnection>(&action)) {
        co_await flush(io, out);
        if (c->reason != CloseReason::quit)
          metrics().inc("tlsrptd_timeouts_total", {{"listener", srv.options_.name}, {"phase", to_token(c->reason)}});
        co_return false;
      }
    }
    co_return co_await flush(io, out);
  }

  // A 421 and the close, only after the peer's pending bytes are read (1 s at most),
  // so a reset does not destroy the 421 in flight.
  template <class Socket>
  asio::awaitable<void> goodbye(Io<Socket>& io, const SmtpReply& reply) {
    std::string bye = reply.wire();
    if (!co_await flush(io, bye)) co_return;
    boost::system::error_code sec;
    io.sock.shutdown(Socket::shutdown_send, sec);
    io.arm(SmtpClock::now() + std::chrono::seconds(1));
    std::array<char, 4096> buf;
    for (;;) {
      auto [rec, rn] = io.tls ? co_await io.tls->async_read_some(asio::buffer(buf), kAwait)
                              : co_await io.sock.async_read_some(asio::buffer(buf), kAwait);
      if (rec || io.fired) break;
    }
    io.disarm();
  }

  template <class Socket>
  asio::awaitable<void> run(Socket sock, std::shared_ptr<const SmtpOptions> options) {
    SmtpSession s(std::move(options), peer);
    Io<Socket> io{sock, nullptr, asio::steady_timer(sock.get_executor())};
    // A graceful stop ends a session waiting for a command at once; one receiving a
    // message (DATA) finishes it, within the shutdown deadline, and gets its reply.
    conn->close = [&sock, &s] {
      if (s.in_data()) return;
      boost::system::error_code ignored;
      sock.cancel(ignored);
    };
    // Eviction ends a session only while it is still idle when this runs.
    bool evicted = false;
    conn->evict = [&sock, &s, &evicted] {
      if (!evictable(s)) return false;
      evicted = true;
      boost::system::error_code ignored;
      sock.cancel(ignored);
      return true;
    };
    struct Forget {
      SmtpServer::Conn& c;
      ~Forget() {
        c.idle = false;
        c.close = nullptr;  // `sock` dies with this frame
        c.evict = nullptr;
      }
    } forget{*conn};
    if (!co_await perform(s, io, s.start(SmtpClock::now()))) co_return;
    conn->idle = evictable(s);
    std::array<char, 16 * 1024> buf;
    while (!s.closed() && !evicted && (!srv.stopping_ || s.in_data())) {
      io.arm(s.deadline());
      boost::system::error_code ec;
      std::size_t n = 0;
      if (io.tls)
        std::tie(ec, n) = co_await io.tls->async_read_some(asio::buffer(buf), kAwait);
      else
        std::tie(ec, n) = co_await sock.async_read_some(asio::buffer(buf), kAwait);
      io.disarm();
      if (io.fired) {
        if (!co_await perform(s, io, s.on_timeout(SmtpClock::now()))) break;
        continue;
      }
      if (ec) break;  // the client went away: nothing half-delivered is kept
      const bool more = co_await perform(s, io, s.feed(std::string_view(buf.data(), n), SmtpClock::now()));
      conn->idle = evictable(s);
      if (!more) break;
    }
    conn->idle = false;
    if (evicted && !s.closed()) {
      log_info(srv.options_.name + ": " + peer + ": idle session evicted to make room");
      co_await goodbye(io, connection_reply(Outcome::evicted_idle, s.options().hostname));
    } else if (srv.stopping_ && !s.closed()) {
      // RFC 5321 §3.8: a server that shuts down answers 421 and closes; the sender
      // retries what it had not been told was stored.
      co_await goodbye(io, make_reply(421, "4.3.2", s.options().hostname + " shutting down, try again later"));
    }
    boost::system::error_code ignored;
    sock.shutdown(Socket::shutdown_both, ignored);
    sock.close(ignored);
  }
};

SmtpServer::SmtpServer(asio::io_context& io, SmtpServerOptions options, StoreWriter& writer, const Intake& intake,
                       asio::thread_pool& pool, TlsContextHolder* tls)
    : io_(io),
      options_(std::move(options)),
      writer_(writer),
      intake_(intake),
      pool_(pool),
      tls_(tls) {
  settings_.store(make_settings(options_, nullptr));
}

void SmtpServer::set_options(SmtpServerOptions options) {
  settings_.store(make_settings(std::move(options), settings()));
}

std::shared_ptr<const SmtpServer::Settings> SmtpServer::make_settings(
    SmtpServerOptions options, const std::shared_ptr<const Settings>& previous) const {
  options.name = options_.name;
  options.session.lmtp = options_.session.lmtp;
  auto s = std::make_shared<Settings>();
  SmtpOptions plain = options.session;
  plain.tls_available = false;
  s->plain = std::make_shared<const SmtpOptions>(plain);
  SmtpOptions with_tls = options.session;
  with_tls.tls_available = tls_ != nullptr && options.starttls;
  s->tls = std::make_shared<const SmtpOptions>(with_tls);
  // An unchanged cap keeps its count: a reload must not let clients past it.
  if (previous && previous->options.max_connections_per_client == options.max_connections_per_client)
    s->clients = previous->clients;
  else
    s->clients = std::make_shared<ClientCounts>(options.max_connections_per_client);
  s->options = std::move(options);
  return s;
}

std::expected<void, std::string> SmtpServer::listen(const std::string& address,
                                                    std::optional<std::pair<uid_t, gid_t>> owner) {
  boost::system::error_code ec;
  if (address.starts_with("unix:")) {
    const std::string path = address.substr(5);
    std::filesystem::remove(path, ec);  // a stale socket from a previous run
    unix_socket::acceptor acc(asio::make_strand(io_));  // the accept loop's strand
    acc.open(unix_socket(), ec);
    if (!ec) acc.bind(unix_socket::endpoint(path), ec);
    if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return std::unexpected("cannot listen on " + address + ": " + ec.message());
    // The MTA's delivery agent reaches it through the service user's group.
    ::chmod(path.c_str(), 0660);
    if (owner && ::chown(path.c_str(), owner->first, owner->second) != 0)
      return std::unexpected("cannot hand " + path + " to the service user: " + std::strerror(errno));
    unix_.push_back(std::move(acc));
    unix_paths_.push_back(path);
    return {};
  }
  auto acc = open_tcp_listener(io_, address);
  if (!acc) return std::unexpected(acc.error());
  tcp_.push_back(std::move(*acc));
  return {};
}

std::expected<void, std::string> SmtpServer::adopt(int fd) {
  auto family = socket_family(fd);
  if (!family) return std::unexpected(family.error());
  if (*family == AF_UNIX) {
    boost::system::error_code ec;
    unix_socket::acceptor acc(asio::make_strand(io_));  // the accept loop's strand
    acc.assign(unix_socket(), fd, ec);
    if (ec) return std::unexpected("cannot adopt inherited socket " + std::to_string(fd) + ": " + ec.message());
    unix_.push_back(std::move(acc));
    return {};
  }
  auto acc = adopt_tcp_listener(io_, fd, *family);
  if (!acc) return std::unexpected(acc.error());
  tcp_.push_back(std::move(*acc));
  return {};
}

std::vector<std::string> SmtpServer::local_endpoints() const {
  std::vector<std::string> out;
  for (const auto& a : tcp_)
    if (auto text = endpoint_text(a); !text.empty()) out.push_back(std::move(text));
  for (const auto& p : unix_paths_) out.push_back("unix:" + p);
  return out;
}

void SmtpServer::start() {
  for (auto& a : tcp_) accept_loop(a);
  for (auto& a : unix_) accept_loop(a);
}

template <class Acceptor>
void SmtpServer::accept_loop(Acceptor& acc) {
  auto self = shared_from_this();
  // On the acceptor's strand, like the stop's cancel: the two never race.
  asio::co_spawn(
      acc.get_executor(),
      [self, &acc]() -> asio::awaitable<void> {
        using Socket = typename Acceptor::protocol_type::socket;
        // After a stop, the connections the kernel completed before it are answered
        // (421), not reset.
        while (auto next = co_await accept_next(acc, self->io_, self->stopping_, self->options_.name)) {
          Socket sock = std::move(*next);
          const auto& name = self->options_.name;
          std::string peer = "unix", key = "unix";
          bool tcp_peer = false;
          if constexpr (std::is_same_v<Socket, tcp::socket>) {
            boost::system::error_code pec;
            auto remote = sock.remote_endpoint(pec);
            if (pec) continue;
            peer = remote.address().to_string();
            key = client_key(remote.address()).str();
            tcp_peer = true;
            sock.set_option(tcp::no_delay(true), pec);
          }
          auto settings = self->settings();
          const std::string& hostname = settings->options.session.hostname;
          if (tcp_peer && !settings->clients->admit(key)) {
            metrics().inc("tlsrptd_connections_refused_total", {{"listener", name}, {"reason", "max_connections_per_client"}});
            refuse(sock, Outcome::client_connection_limit, hostname);
            continue;
          }
          // Full: the oldest idle session makes room (sessions being evicted do not count).
          if (self->open_.load() - std::min(self->open_.load(), self->evicting_.load()) >=
                  settings->options.max_connections &&
              !self->evict_idle()) {
            if (tcp_peer) settings->clients->release(key);
            metrics().inc("tlsrptd_connections_refused_total", {{"listener", name}, {"reason", "max_connections"}});
            refuse(sock, Outcome::connection_limit, hostname);
            continue;
          }
          ++self->open_;
          metrics().inc("tlsrptd_connections_total", {{"listener", name}});
          metrics().add("tlsrptd_open_connections", {{"listener", name}}, 1);
          auto conn = std::make_shared<SmtpServer::Conn>();
          conn->executor = sock.get_executor();
          const std::uint64_t id = self->conns_.add(conn);
          // STARTTLS is offered on TCP listeners only (a unix socket is local).
          auto options = tcp_peer && !self->options_.session.lmtp ? settings->tls : settings->plain;
          asio::co_spawn(
              conn->executor,
              [self, conn, peer, options, settings, s = std::move(sock)]() mutable -> asio::awaitable<void> {
                SmtpRunner runner{*self, conn, peer, settings};
                co_await runner.run(std::move(s), options);
              },
              [self, key, id, tcp_peer, conn, clients = settings->clients](std::exception_ptr e) {
                log_connection_failure(self->options_.name, e);
                self->conns_.remove(id, [&] {
                  if (conn->evicted) --self->evicting_;
                });
                if (tcp_peer) clients->release(key);
                --self->open_;
                metrics().add("tlsrptd_open_connections", {{"listener", self->options_.name}}, -1);
              });
        }
      },
      [self](std::exception_ptr e) {
        if (e) log_error(self->options_.name + ": the accept loop stopped unexpectedly");
      });
}

bool SmtpServer::evict_idle() {
  std::shared_ptr<Conn> victim;
  // The oldest first; `evicted` and evicting_ change under the registry's lock.
  conns_.find_if([&](const std::shared_ptr<Conn>& c) {
    if (c->evicted || !c->idle.load()) return false;
    c->evicted = true;
    ++evicting_;
    victim = c;
    return true;
  });
  if (!victim) return false;
  asio::post(victim->executor, [self = shared_from_this(), victim] {
    if (victim->evict && victim->evict()) {
      metrics().inc("tlsrptd_connections_evicted_total", {{"listener", self->options_.name}});
      return;
    }
    // It sent MAIL FROM (or ended) meanwhile: it is left alone, counts again and may be
    // chosen once idle again; the next idle session makes the room instead.
    victim->idle = false;
    self->conns_.find_if([&](const std::shared_ptr<Conn>& c) {
      if (c != victim) return false;
      if (c->evicted) --self->evicting_;
      c->evicted = false;
      return true;
    });
    if (!self->stopping_) self->evict_idle();
  });
  return true;
}

void SmtpServer::stop_accepting() {
  stopping_ = true;
  // The accept loops drain their backlog and close their sockets.
  for (auto& a : tcp_)
    asio::post(a.get_executor(), [&a] {
      boost::system::error_code ec;
      a.cancel(ec);
    });
  for (auto& a : unix_)
    asio::post(a.get_executor(), [&a] {
      boost::system::error_code ec;
      a.cancel(ec);
    });
  for (const auto& p : unix_paths_) {
    std::error_code ec;
    std::filesystem::remove(p, ec);
  }
  // Sessions waiting for a command are ended; one whose mail is being stored
  // finishes it first (its read is not pending then).
  conns_.for_each([](const std::shared_ptr<Conn>& conn) {
    asio::post(conn->executor, [conn] {
      if (conn->close) conn->close();
    });
  });
}

}  // namespace tlsrpt::daemon
