// What the HTTPS and the SMTP/LMTP servers share about accepting connections:
// opening or adopting a listening socket, the per-client connection count, the
// accept step (with its graceful stop and its back-off when descriptors run out),
// the registry of open connections a stop walks, and the end of a connection.
// The protocol runners stay in their servers.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "daemon/log.hpp"

namespace tlsrpt::daemon {

// "127.0.0.1:443" or "[::1]:443", listening (SO_REUSEADDR, IPV6_V6ONLY for v6) with
// its own strand, which the accept loop and the stop's cancel share.
std::expected<boost::asio::ip::tcp::acceptor, std::string> open_tcp_listener(boost::asio::io_context& io,
                                                                             const std::string& address);
// An inherited TCP listening socket (systemd socket activation, already listening).
// `family` is the socket's address family (from getsockname).
std::expected<boost::asio::ip::tcp::acceptor, std::string> adopt_tcp_listener(boost::asio::io_context& io, int fd,
                                                                             int family);
// The address family of an inherited socket, or an error when `fd` is not a socket.
std::expected<int, std::string> socket_family(int fd);
// "127.0.0.1:443" / "[::1]:443" for the startup log and the tests; empty on error.
std::string endpoint_text(const boost::asio::ip::tcp::acceptor& acceptor);

// Open connections per client key (an IPv4 address, an IPv6 /64): the
// max_connections_per_client cap of both servers.
class ClientCounts {
 public:
  explicit ClientCounts(std::size_t max) : max_(max) {}
  bool admit(const std::string& key);  // false: the client is at its cap
  void release(const std::string& key);

 private:
  const std::size_t max_;
  std::mutex mu_;
  std::map<std::string, std::size_t> open_;
};

// The open connections of one server, oldest first, for the stop (and the HTTPS
// eviction of idle connections) to walk. `Conn` is the server's per-connection state.
template <class Conn>
class ConnectionRegistry {
 public:
  std::uint64_t add(const std::shared_ptr<Conn>& c) {
    std::lock_guard lock(mu_);
    conns_[next_] = c;
    return next_++;
  }
  // Forgets a connection that ended; `under_lock` runs with the registry locked
  // (for state guarded together with it, like the HTTPS eviction count).
  template <class F>
  void remove(std::uint64_t id, F&& under_lock) {
    std::lock_guard lock(mu_);
    conns_.erase(id);
    under_lock();
  }
  void remove(std::uint64_t id) {
    remove(id, [] {});
  }
  // Calls f(shared_ptr<Conn>) for each live connection, oldest first, under the
  // lock, until f returns true.
  template <class F>
  bool find_if(F&& f) {
    std::lock_guard lock(mu_);
    for (auto& [id, weak] : conns_)
      if (auto c = weak.lock(); c && f(c)) return true;
    return false;
  }
  template <class F>
  void for_each(F&& f) {
    find_if([&](const std::shared_ptr<Conn>& c) {
      f(c);
      return false;
    });
  }
 private:
  std::mutex mu_;
  std::map<std::uint64_t, std::weak_ptr<Conn>> conns_;  // ids grow with time
  std::uint64_t next_ = 0;
};

// The next connection of an accept loop running on the acceptor's strand, or nothing
// when the loop is over. Once `stopping` is set (the stop also cancels the pending
// accept), the connections the kernel completed before the stop are still handed
// out, so they are answered rather than reset; then the socket is closed. An accept
// error (EMFILE/ENFILE: out of descriptors) is logged and retried after 100 ms
// instead of spinning. Each socket gets its own strand.
template <class Acceptor>
boost::asio::awaitable<std::optional<typename Acceptor::protocol_type::socket>> accept_next(
    Acceptor& acc, boost::asio::io_context& io, const std::atomic<bool>& stopping, const std::string& name) {
  namespace asio = boost::asio;
  using Socket = typename Acceptor::protocol_type::socket;
  for (;;) {
    boost::system::error_code ec;
    Socket socket(asio::make_strand(io));
    if (stopping) {
      acc.non_blocking(true, ec);
      if (!ec) acc.accept(socket, ec);
      if (ec) {
        acc.close(ec);
        co_return std::nullopt;
      }
      co_return std::optional<Socket>(std::move(socket));
    }
    std::tie(ec, socket) = co_await acc.async_accept(asio::make_strand(io), asio::as_tuple(asio::use_awaitable));
    if (!ec) co_return std::optional<Socket>(std::move(socket));
    if (stopping) continue;  // cancelled by the stop: drain the backlog
    if (ec == asio::error::operation_aborted) co_return std::nullopt;
    log_warning(name + ": accept failed: " + ec.message());
    asio::steady_timer t(io, std::chrono::milliseconds(100));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

// Logs how a connection's coroutine ended when it ended by an exception (none is
// expected: I/O errors are values; this is the last line of defence).
void log_connection_failure(const std::string& name, std::exception_ptr e);

}  // namespace tlsrpt::daemon
