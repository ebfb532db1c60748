// The accept side shared by the HTTPS and SMTP servers, on real loopback sockets.
#include "daemon/net/listener.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include <optional>
#include <string>
#include <vector>

namespace tlsrpt::daemon {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

unsigned short port_of(const tcp::acceptor& a) { return a.local_endpoint().port(); }

TEST(Listener, OpensOnLoopbackAndNamesItsEndpoint) {
  asio::io_context io;
  auto a = open_tcp_listener(io, "127.0.0.1:0");
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(endpoint_text(*a), "127.0.0.1:" + std::to_string(port_of(*a)));
  auto v6 = open_tcp_listener(io, "[::1]:0");
  if (v6) {  // no IPv6 in some sandboxes
    EXPECT_EQ(endpoint_text(*v6), "[::1]:" + std::to_string(port_of(*v6)));
  }
}

TEST(Listener, BadAddressesAreNamedInTheError) {
  asio::io_context io;
  auto a = open_tcp_listener(io, "not-an-address");
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().find("not-an-address"), std::string::npos) << a.error();
  auto b = open_tcp_listener(io, "999.1.1.1:25");
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().find("999.1.1.1:25"), std::string::npos) << b.error();
  // A port in use: the second bind fails and says where.
  auto first = open_tcp_listener(io, "127.0.0.1:0");
  ASSERT_TRUE(first);
  const std::string taken = "127.0.0.1:" + std::to_string(port_of(*first));
  auto second = open_tcp_listener(io, taken);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().find("cannot listen on " + taken), std::string::npos) << second.error();
}

TEST(Listener, InheritedDescriptorThatIsNotASocketIsNamed) {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto f = socket_family(fd);
  ::close(fd);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), "inherited socket " + std::to_string(fd) + " is not a socket");
  asio::io_context io;
  auto a = open_tcp_listener(io, "127.0.0.1:0");
  ASSERT_TRUE(a);
  auto family = socket_family(a->native_handle());
  ASSERT_TRUE(family) << family.error();
  EXPECT_EQ(*family, AF_INET);
}

TEST(Listener, AcceptHandsOutConnectionsAndAfterAStopDrainsTheBacklog) {
  asio::io_context io;
  auto a = open_tcp_listener(io, "127.0.0.1:0");
  ASSERT_TRUE(a) << a.error();
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port_of(*a));
  std::atomic<bool> stopping{false};
  int accepted_before_stop = 0, accepted_after_stop = 0;
  bool ended = false;
  std::vector<tcp::socket> clients;
  std::vector<tcp::socket> served;

  asio::co_spawn(
      a->get_executor(),
      [&]() -> asio::awaitable<void> {
        while (auto s = co_await accept_next(*a, io, stopping, "test")) {
          (stopping ? accepted_after_stop : accepted_before_stop)++;
          served.push_back(std::move(*s));
          if (accepted_before_stop == 1 && !stopping) {
            // Two more connect (the kernel completes them), then the stop comes.
            for (int i = 0; i < 2; ++i) {
              clients.emplace_back(io);
              clients.back().connect(ep);
            }
            stopping = true;
            asio::post(a->get_executor(), [&] {
              boost::system::error_code ec;
              a->cancel(ec);
            });
          }
        }
        ended = true;
      },
      asio::detached);
  clients.emplace_back(io);
  clients.back().connect(ep);
  io.run_for(std::chrono::seconds(10));
  EXPECT_TRUE(ended);
  EXPECT_EQ(accepted_before_stop, 1);
  EXPECT_EQ(accepted_after_stop, 2) << "connections completed before the stop are served, not reset";
  EXPECT_FALSE(a->is_open()) << "the drained listener is closed";
}

TEST(ClientCounts, CapsEachClientAndForgetsThoseThatLeft) {
  ClientCounts counts(2);
  EXPECT_TRUE(counts.admit("192.0.2.1"));
  EXPECT_TRUE(counts.admit("192.0.2.1"));
  EXPECT_FALSE(counts.admit("192.0.2.1"));
  EXPECT_TRUE(counts.admit("2001:db8::/64")) << "another client has its own count";
  counts.release("192.0.2.1");
  EXPECT_TRUE(counts.admit("192.0.2.1")) << "a released slot is free again";
  counts.release("192.0.2.1");
  counts.release("192.0.2.1");
  counts.release("192.0.2.1");  // one too many: no underflow
  EXPECT_TRUE(counts.admit("192.0.2.1"));
  EXPECT_TRUE(counts.admit("192.0.2.1"));
  EXPECT_FALSE(counts.admit("192.0.2.1"));
  ClientCounts none(0);
  EXPECT_FALSE(none.admit("192.0.2.1"));
}

TEST(ConnectionRegistry, WalksTheLiveConnectionsOldestFirst) {
  struct Conn {
    int n;
  };
  ConnectionRegistry<Conn> reg;
  auto a = std::make_shared<Conn>(Conn{1});
  auto b = std::make_shared<Conn>(Conn{2});
  auto c = std::make_shared<Conn>(Conn{3});
  const auto ia = reg.add(a);
  reg.add(b);
  reg.add(c);
  b.reset();  // ended without being removed yet: skipped
  std::vector<int> seen;
  reg.for_each([&](const std::shared_ptr<Conn>& x) { seen.push_back(x->n); });
  EXPECT_EQ(seen, (std::vector<int>{1, 3}));
  int first_odd = 0;
  EXPECT_TRUE(reg.find_if([&](const std::shared_ptr<Conn>& x) { return x->n % 2 == 1 && (first_odd = x->n); }));
  EXPECT_EQ(first_odd, 1);
  bool ran = false;
  reg.remove(ia, [&] { ran = true; });
  EXPECT_TRUE(ran);
  seen.clear();
  reg.for_each([&](const std::shared_ptr<Conn>& x) { seen.push_back(x->n); });
  EXPECT_EQ(seen, (std::vector<int>{3}));
  EXPECT_FALSE(reg.find_if([](const std::shared_ptr<Conn>& x) { return x->n == 2; }));
}

}  // namespace
}  // namespace tlsrpt::daemon
