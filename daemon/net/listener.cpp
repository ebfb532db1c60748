#include "daemon/net/listener.hpp"

#include <sys/socket.h>

#include <boost/asio/ip/v6_only.hpp>

#include "daemon/config.hpp"
#include "parser/text.hpp"

namespace tlsrpt::daemon {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::expected<tcp::acceptor, std::string> open_tcp_listener(asio::io_context& io, const std::string& address) {
  auto hp = parse_listen_address(address);
  if (!hp) return std::unexpected("bad listen address \"" + address + "\"");
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(hp->first, ec);
  if (ec) return std::unexpected("bad listen address \"" + address + "\": " + ec.message());
  tcp::endpoint ep(ip, hp->second);
  tcp::acceptor acc(asio::make_strand(io));
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && ip.is_v6()) acc.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return std::unexpected("cannot listen on " + address + ": " + ec.message());
  return acc;
}

std::expected<int, std::string> socket_family(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return std::unexpected("inherited socket " + std::to_string(fd) + " is not a socket");
  return ss.ss_family;
}

std::expected<tcp::acceptor, std::string> adopt_tcp_listener(asio::io_context& io, int fd, int family) {
  tcp::acceptor acc(asio::make_strand(io));
  boost::system::error_code ec;
  acc.assign(family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
  if (ec) return std::unexpected("cannot adopt inherited socket " + std::to_string(fd) + ": " + ec.message());
  return acc;
}

std::string endpoint_text(const tcp::acceptor& acceptor) {
  boost::system::error_code ec;
  auto ep = acceptor.local_endpoint(ec);
  if (ec) return {};
  const auto a = ep.address();
  return a.is_v6() ? "[" + a.to_string() + "]:" + std::to_string(ep.port()) : a.to_string() + ":" + std::to_string(ep.port());
}

bool ClientCounts::admit(const std::string& key) {
  std::lock_guard lock(mu_);
  auto& n = open_[key];
  if (n >= max_) {
    if (n == 0) open_.erase(key);
    return false;
  }
  ++n;
  return true;
}

void ClientCounts::release(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = open_.find(key);
  if (it != open_.end() && --it->second == 0) open_.erase(it);
}

void log_connection_failure(const std::string& name, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& err) {
    log_error(name + ": connection failed: " + escape_line(err.what()));
  } catch (...) {
    log_error(name + ": connection failed");
  }
}

}  // namespace tlsrpt::daemon
