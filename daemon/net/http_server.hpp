// The HTTP listeners: the public HTTPS report endpoint and the plain-HTTP admin
// listener (/metrics, /healthz). Owns sockets, TLS, deadlines and connection caps;
// the request logic lives in http_handler.cpp. Every read, write and handshake has a
// deadline; connection counts are capped overall and per client (IPv4 address or
// IPv6 /64), and at the overall cap the oldest connection that has not sent a
// request makes room; request bodies in flight share one byte budget, of which one
// client may hold a bounded share, and which a client holding less can always enter
// (daemon/net/body_budget.hpp).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/intake/intake.hpp"
#include "daemon/intake/store_writer.hpp"
#include "daemon/net/body_budget.hpp"
#include "daemon/net/admin_auth.hpp"
#include "daemon/net/inspect_service.hpp"
#include "daemon/net/listener.hpp"
#include "daemon/protocol/http_handler.hpp"

namespace tlsrpt::daemon {

struct HttpServerOptions {
  std::string name = "https";  // listener name in logs and metrics
  bool tls = true;
  HttpPolicy policy;
  std::chrono::milliseconds handshake_timeout{10000}, header_timeout{10000}, request_timeout{30000},
      idle_timeout{15000}, write_timeout{30000};
  std::size_t max_connections = 1024;
  std::size_t max_connections_per_client = 32;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_requests_per_connection = 1000;
  std::size_t max_body_bytes_in_flight = 64 * 1024 * 1024;
  // The share of that budget one client (IPv4 address or IPv6 /64) may hold; one
  // request is always let in. Without it, one address with its 32 connections
  // declaring 2 MiB bodies holds the whole budget (scenario 15 in
  // docs/guarantees.md#reliability-scenarios).
  std::size_t max_body_bytes_per_client = 8 * 1024 * 1024;
  // The admin listener with admin.password_file: every request needs its credentials.
  std::shared_ptr<AdminAuth> admin_auth;
};

// Shared by the listeners: the TLS context (swapped on SIGHUP) and the policy.
class TlsContextHolder {
 public:
  void set(std::shared_ptr<boost::asio::ssl::context> ctx) { ctx_.store(std::move(ctx)); }
  std::shared_ptr<boost::asio::ssl::context> get() const { return ctx_.load(); }

 private:
  std::atomic<std::shared_ptr<boost::asio::ssl::context>> ctx_;
};

class HttpServer : public std::enable_shared_from_this<HttpServer> {
 public:
  // `inspect`, when set, answers the inspection site and API (GET/HEAD) on this listener.
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, StoreWriter& writer, const Intake& intake,
             TlsContextHolder* tls, std::shared_ptr<InspectService> inspect = nullptr);

  // Binds and listens on "host:port"; errors name the address.
  std::expected<void, std::string> listen(const std::string& address);
  // Adopts a listening socket inherited from systemd (socket activation).
  std::expected<void, std::string> adopt(int fd);
  void start();  // begins accepting on every socket

  // Graceful stop: no new connections; idle keep-alive connections are closed;
  // requests in flight finish and then close their connection.
  void stop_accepting();
  std::size_t open_connections() const { return open_.load(); }

  // Replaces the request policy (SIGHUP) for requests that start afterwards.
  void set_policy(HttpPolicy policy);
  std::shared_ptr<const HttpPolicy> policy() const { return policy_.load(); }
  // Replaces the inspection service (SIGHUP; null turns it off) for requests that
  // start afterwards; one in flight keeps the service it started with.
  void set_inspect(std::shared_ptr<InspectService> inspect) { inspect_.store(std::move(inspect)); }
  std::shared_ptr<InspectService> inspect() const { return inspect_.load(); }

  const HttpServerOptions& options() const { return options_; }
  std::vector<std::string> local_endpoints() const;

  // Implementation detail of the connection coroutine (http_server.cpp).
  struct Connection;

 private:
  void accept_loop(std::size_t index);
  // Closes the oldest connection still in its TLS handshake or waiting for a request
  // header; false when there is none.
  bool evict_idle();
  // A body's bytes from the shared budget, cutting the slowest body of the biggest
  // holder when full (daemon/net/body_budget.hpp); refusals and cuts are counted.
  BodyBudget::Grant reserve_body(const std::string& client_key, std::size_t n, std::function<void()> cancel);
  void release_body(BodyBudget::Body& body);

  boost::asio::io_context& io_;
  HttpServerOptions options_;
  StoreWriter& writer_;
  const Intake& intake_;
  TlsContextHolder* tls_;
  std::atomic<std::shared_ptr<InspectService>> inspect_;
  std::vector<boost::asio::ip::tcp::acceptor> acceptors_;
  std::atomic<std::shared_ptr<const HttpPolicy>> policy_;
  std::atomic<std::size_t> open_{0};
  std::atomic<std::size_t> evicting_{0};  // evicted connections not yet closed
  std::atomic<bool> stopping_{false};
  ClientCounts clients_;                             // open connections per client key
  BodyBudget bodies_;  // request body bytes in flight, per client key
  ConnectionRegistry<Connection> conns_;

  friend struct SessionRunner;
};

}  // namespace tlsrpt::daemon
