// The built-in SMTP and LMTP listeners (RFC 8460 §5.3): sockets, STARTTLS and
// deadlines around the sans-I/O engine (daemon/smtp_session). A mail is answered
// 250 only after its report is committed (or held); the DKIM policy is applied on
// a worker pool, never on a network thread. Connection caps as for HTTPS: at
// max_connections the oldest session that has not sent MAIL FROM is told 421 4.7.0
// and closed to make room; a client over its cap, or refused because nothing can be
// evicted, is greeted with 421 4.7.0 and closed (reply table: daemon/protocol/reply_table.cpp).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/intake/intake.hpp"
#include "daemon/intake/store_writer.hpp"
#include "daemon/net/http_server.hpp"
#include "daemon/net/listener.hpp"
#include "daemon/protocol/smtp_session.hpp"

namespace tlsrpt::daemon {

struct SmtpServerOptions {
  std::string name = "smtp";  // "smtp" or "lmtp", in logs and metrics
  SmtpOptions session;        // lmtp, hostname, recipients, limits
  bool starttls = true;       // offer STARTTLS on TCP SMTP connections when a TLS context is given
  std::size_t max_connections = 256;
  std::size_t max_connections_per_client = 10;
  std::chrono::milliseconds write_timeout{60000};
};

class SmtpServer : public std::enable_shared_from_this<SmtpServer> {
 public:
  SmtpServer(boost::asio::io_context& io, SmtpServerOptions options, StoreWriter& writer, const Intake& intake,
             boost::asio::thread_pool& pool, TlsContextHolder* tls);

  // "127.0.0.1:2525", "[::1]:2525" or "unix:/path" (the socket file is replaced,
  // mode 0660, handed to `owner` when set).
  std::expected<void, std::string> listen(const std::string& address, std::optional<std::pair<uid_t, gid_t>> owner);
  std::expected<void, std::string> adopt(int fd);
  void start();
  void stop_accepting();
  std::size_t open_connections() const { return open_.load(); }
  std::vector<std::string> local_endpoints() const;
  // Replaces the options (SIGHUP) for connections accepted afterwards; sessions in
  // flight keep theirs. The name and the LMTP mode stay as constructed.
  void set_options(SmtpServerOptions options);

  struct Conn;  // implementation (smtp_server.cpp)

 private:
  // What a new connection is admitted and run with, swapped whole by set_options().
  struct Settings {
    SmtpServerOptions options;
    std::shared_ptr<const SmtpOptions> plain, tls;  // a session's options without / with STARTTLS offered
    // Open connections per client key (TCP peers); each connection releases to the
    // object that admitted it, so a reload that changes the cap starts a new count.
    std::shared_ptr<ClientCounts> clients;
  };
  std::shared_ptr<const Settings> settings() const { return settings_.load(); }
  std::shared_ptr<const Settings> make_settings(SmtpServerOptions options,
                                                const std::shared_ptr<const Settings>& previous) const;
  template <class Acceptor>
  void accept_loop(Acceptor& acceptor);
  // Tells the oldest idle session (no MAIL FROM) 421 4.7.0 and closes it; false when
  // there is none. A session that is no longer idle when the eviction reaches it is
  // left alone and counted again, and the next idle one is chosen instead.
  bool evict_idle();

  boost::asio::io_context& io_;
  const SmtpServerOptions options_;  // as constructed: only its name and LMTP mode are read
  StoreWriter& writer_;
  const Intake& intake_;
  boost::asio::thread_pool& pool_;
  TlsContextHolder* tls_;
  std::vector<boost::asio::ip::tcp::acceptor> tcp_;
  std::vector<boost::asio::local::stream_protocol::acceptor> unix_;
  std::vector<std::string> unix_paths_;
  std::atomic<std::size_t> open_{0};
  std::atomic<std::size_t> evicting_{0};  // evicted sessions not yet closed
  std::atomic<bool> stopping_{false};
  std::atomic<std::shared_ptr<const Settings>> settings_;
  ConnectionRegistry<Conn> conns_;

  friend struct SmtpRunner;
};

}  // namespace tlsrpt::daemon
