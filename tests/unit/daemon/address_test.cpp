// Configured addresses in canonical form (daemon/net/client_key.cpp, daemon/config.cpp)
// and the admin listener's basic authentication (daemon/net/admin_auth.cpp).
#include <gtest/gtest.h>

#include <crypt.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <fstream>
#include <optional>
#include <thread>
#include <variant>

#include "daemon/config.hpp"
#include "daemon/net/admin_auth.hpp"
#include "daemon/net/client_key.hpp"
#include "test_support.hpp"

namespace tlsrpt::daemon {
namespace {

using boost::asio::ip::make_address;

std::string range(std::string_view text) {
  auto r = parse_address_range(text);
  return r ? r->str() : "error: " + r.error();
}

TEST(AddressRange, CanonicalForms) {
  EXPECT_EQ(range("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(range("::ffff:127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(range("::FFFF:7f00:1"), "127.0.0.1");
  EXPECT_EQ(range("2001:DB8:9:0::1"), "2001:db8:9::1");
  EXPECT_EQ(range("0:0:0:0:0:0:0:1"), "::1");
  EXPECT_EQ(range("[2001:db8::1]"), "2001:db8::1");
  EXPECT_EQ(range("10.0.0.0/8"), "10.0.0.0/8");
  EXPECT_EQ(range("10.0.0.7/32"), "10.0.0.7");
  EXPECT_EQ(range("2001:DB8::/32"), "2001:db8::/32");
  EXPECT_EQ(range("::ffff:10.0.0.0/104"), "10.0.0.0/8");
}

TEST(AddressRange, RefusedWithAReason) {
  EXPECT_NE(range("10.0.0.1/8").find("did you mean 10.0.0.0/8?"), std::string::npos);
  EXPECT_NE(range("2001:db8::1/32").find("did you mean 2001:db8::/32?"), std::string::npos);
  EXPECT_NE(range("10.0.0.0/33").find("prefix length above 32"), std::string::npos);
  EXPECT_NE(range("10.0.0.0/x").find("not a number"), std::string::npos);
  EXPECT_NE(range("fe80::1%eth0").find("zone"), std::string::npos);
  for (auto bad : {"", "localhost", "010.1.2.3", "256.1.1.1", "1.2.3", "::ffff:10.0.0.0/8"})
    EXPECT_EQ(range(bad).rfind("error: ", 0), 0u) << bad;
}

TEST(AddressRange, PeersMatchInEverySpelling) {
  const std::vector<std::string> proxies = {"127.0.0.1", "2001:db8:9::1", "10.0.0.0/8", "2001:db8:100::/48"};
  EXPECT_TRUE(address_in(proxies, "::ffff:127.0.0.1"));  // an IPv4 proxy on a dual-stack socket
  EXPECT_TRUE(address_in(proxies, "127.0.0.1"));
  EXPECT_TRUE(address_in(proxies, "2001:DB8:9:0::1"));
  EXPECT_TRUE(address_in(proxies, "10.200.3.4"));
  EXPECT_TRUE(address_in(proxies, "::ffff:10.1.2.3"));
  EXPECT_TRUE(address_in(proxies, "2001:db8:100:ffff::9"));
  EXPECT_FALSE(address_in(proxies, "127.0.0.2"));
  EXPECT_FALSE(address_in(proxies, "11.0.0.1"));
  EXPECT_FALSE(address_in(proxies, "2001:db8:101::1"));
  EXPECT_FALSE(address_in(proxies, "::1"));
  EXPECT_FALSE(address_in(proxies, "not an address"));
  AddressRange v4{make_address("10.0.0.0"), 8};
  EXPECT_FALSE(v4.contains(make_address("::a00:1")));  // IPv4-compatible, not mapped
}

TEST(ConfigAddresses, StoredCanonicalAndNoted) {
  test::TempDir dir;
  auto path = (dir.path() / "c.toml").string();
  std::ofstream(path) << "[https]\nlisten = [\"[::FFFF:127.0.0.1]:8443\", \"[2001:DB8::1]:443\"]\n"
                         "[inspect]\ntrusted_proxies = [\"127.0.0.1\", \"2001:DB8:9:0::1\", \"10.0.0.0/8\"]\n";
  auto c = load_config(path);
  ASSERT_TRUE(c) << c.error().front().text();
  EXPECT_EQ(c->https.listen, (std::vector<std::string>{"127.0.0.1:8443", "[2001:db8::1]:443"}));
  EXPECT_EQ(c->inspect.trusted_proxies, (std::vector<std::string>{"127.0.0.1", "2001:db8:9::1", "10.0.0.0/8"}));
  ASSERT_EQ(c->notes.size(), 3u);
  EXPECT_EQ(c->notes[2], "inspect.trusted_proxies: \"2001:DB8:9:0::1\" is 2001:db8:9::1");
  EXPECT_TRUE(default_config().notes.empty());
}

TEST(ConfigAddresses, ErrorsNameTheKey) {
  test::TempDir dir;
  auto path = (dir.path() / "c.toml").string();
  std::ofstream(path) << "[inspect]\ntrusted_proxies = [\"10.0.0.1/8\"]\n";
  auto c = load_config(path);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().front().text().find("inspect.trusted_proxies: \"10.0.0.1/8\" has host bits set"),
            std::string::npos)
      << c.error().front().text();
}

TEST(ConfigAddresses, AdminBeyondLoopbackNeedsAPassword) {
  test::TempDir dir;
  auto path = (dir.path() / "c.toml").string();
  std::ofstream(path) << "[admin]\nlisten = [\"0.0.0.0:9100\"]\n";
  auto c = load_config(path);
  ASSERT_FALSE(c);
  const std::string e = c.error().front().text();
  EXPECT_NE(e.find(":2:"), std::string::npos) << e;
  EXPECT_NE(e.find("admin.password_file"), std::string::npos) << e;
  std::ofstream(path) << "[admin]\nlisten = [\"0.0.0.0:9100\"]\npassword_file = \"/etc/tlsrptd/admin.passwd\"\n";
  EXPECT_TRUE(load_config(path));
  std::ofstream(path) << "[admin]\nlisten = [\"[::1]:9100\", \"127.0.0.2:9100\", \"[::ffff:127.0.0.1]:9101\"]\n";
  EXPECT_TRUE(load_config(path));
  EXPECT_TRUE(is_loopback_listen("[::ffff:127.0.0.1]:1"));
  EXPECT_FALSE(is_loopback_listen("[::]:1"));
  EXPECT_FALSE(is_loopback_listen("192.0.2.1:1"));
}

std::string hash_of(const char* password, const char* prefix) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  EXPECT_TRUE(crypt_gensalt_rn(prefix, 0, nullptr, 0, salt, sizeof salt));
  crypt_data data{};
  return crypt_r(password, salt, &data);
}

std::string basic(std::string_view user_pass) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "Basic ";
  std::size_t i = 0;
  for (; i + 2 < user_pass.size(); i += 3) {
    unsigned v = (unsigned char)user_pass[i] << 16 | (unsigned char)user_pass[i + 1] << 8 | (unsigned char)user_pass[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i < user_pass.size()) {
    unsigned v = (unsigned char)user_pass[i] << 16 | (i + 1 < user_pass.size() ? (unsigned char)user_pass[i + 1] << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < user_pass.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

TEST(AdminAuth, CredentialsAndFailureLimit) {
  auto auth = AdminAuth::parse("# scrape\nprom:" + hash_of("right", "$y$") + "\nops:" + hash_of("other", "$6$") + "\n",
                               "admin.passwd");
  ASSERT_TRUE(auth) << auth.error();
  auto now = RateLimiter::Clock::now();
  const ClientKey a = *client_key("192.0.2.1"), b = *client_key("192.0.2.2");
  using V = AdminAuth::Verdict;
  EXPECT_EQ((*auth)->check(basic("prom:right"), a, now).verdict, V::ok);
  EXPECT_EQ((*auth)->check(basic("ops:other"), a, now).verdict, V::ok);
  EXPECT_EQ((*auth)->check("", a, now).verdict, V::denied);
  EXPECT_EQ((*auth)->check("Bearer x", a, now).verdict, V::denied);
  EXPECT_EQ((*auth)->check(basic("nobody:right"), a, now).verdict, V::denied);
  for (unsigned i = 2; i < AdminAuth::kFailuresPerMinute; ++i)
    EXPECT_EQ((*auth)->check(basic("prom:wrong"), a, now).verdict, V::denied) << i;
  auto t = (*auth)->check(basic("ops:wrong"), a, now);  // the 11th failure is not even tried
  EXPECT_EQ(t.verdict, V::throttled);
  EXPECT_GE(t.retry_after.count(), 1);
  // Nor the right password, remembered or not: the limit must not answer guesses.
  EXPECT_EQ((*auth)->check(basic("prom:right"), a, now).verdict, V::throttled);
  EXPECT_EQ((*auth)->check(basic("ops:wrong"), b, now).verdict, V::denied);  // another address
  EXPECT_EQ((*auth)->check(basic("ops:wrong"), a, now + std::chrono::seconds(61)).verdict, V::denied);
}

// admin.max_password_checks: hashes admitted (running or waiting) at once; beyond,
// busy at once without a hash. The hash runs on the AdminAuth's thread and the
// decision completes on the awaiting executor.
TEST(AdminAuth, PasswordChecksBoundedAndOffTheCaller) {
  auto auth = AdminAuth::parse("prom:" + hash_of("right", "$6$") + "\n", "f", AdminAuth::Limits{2, 60});
  ASSERT_TRUE(auth) << auth.error();
  auto now = RateLimiter::Clock::now();
  const ClientKey a = *client_key("192.0.2.1"), b = *client_key("192.0.2.2"), c = *client_key("192.0.2.3");
  auto p1 = (*auth)->begin(basic("prom:one"), a, now);
  auto p2 = (*auth)->begin(basic("prom:two"), b, now);
  ASSERT_TRUE(std::holds_alternative<AdminAuth::Pending>(p1));
  ASSERT_TRUE(std::holds_alternative<AdminAuth::Pending>(p2));
  EXPECT_EQ((*auth)->checks(), 2u);
  auto p3 = (*auth)->begin(basic("prom:right"), c, now);
  ASSERT_TRUE(std::holds_alternative<AdminAuth::Decision>(p3));
  EXPECT_EQ(std::get<AdminAuth::Decision>(p3).verdict, AdminAuth::Verdict::busy);
  EXPECT_GE(std::get<AdminAuth::Decision>(p3).retry_after.count(), 1);
  // No header and a malformed one are answered without a slot.
  EXPECT_EQ(std::get<AdminAuth::Decision>((*auth)->begin("", c, now)).verdict, AdminAuth::Verdict::denied);
  EXPECT_EQ(std::get<AdminAuth::Decision>((*auth)->begin("Basic !!", c, now)).verdict, AdminAuth::Verdict::denied);
  p1 = AdminAuth::Decision{};  // drops the pending check: its slot is free again
  EXPECT_EQ((*auth)->checks(), 1u);

  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  auto p4 = (*auth)->begin(basic("prom:right"), c, now);
  ASSERT_TRUE(std::holds_alternative<AdminAuth::Pending>(p4));
  std::optional<AdminAuth::Decision> got;
  std::thread::id ran_on;
  (*auth)->async_check(std::get<AdminAuth::Pending>(std::move(p4)),
                       boost::asio::bind_executor(io, [&](AdminAuth::Decision d) {
                         got = d;
                         ran_on = std::this_thread::get_id();
                         work.reset();
                       }));
  io.run_for(std::chrono::seconds(30));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->verdict, AdminAuth::Verdict::ok);
  EXPECT_EQ(ran_on, std::this_thread::get_id());  // completed on the io_context, not the hashing thread
  EXPECT_EQ((*auth)->checks(), 1u);               // p2 still holds its slot
  (*auth)->stop();
  auto p5 = (*auth)->begin(basic("prom:other"), a, now);
  EXPECT_EQ(std::get<AdminAuth::Decision>(p5).verdict, AdminAuth::Verdict::busy);  // stopping: no new hash
  (*auth)->join();  // the hashing thread is done with `io` before `io` goes away (as serve joins it first)
}

// admin.max_failures_per_minute: wrong passwords from every client together; beyond,
// unknown credentials get 429 (global) without a hash, remembered ones still pass.
TEST(AdminAuth, GlobalFailureLimit) {
  auto auth = AdminAuth::parse("prom:" + hash_of("right", "$6$") + "\nops:" + hash_of("other", "$6$") + "\n", "f",
                               AdminAuth::Limits{4, 5});
  ASSERT_TRUE(auth) << auth.error();
  auto now = RateLimiter::Clock::now();
  using V = AdminAuth::Verdict;
  EXPECT_EQ((*auth)->check(basic("prom:right"), *client_key("198.51.100.1"), now).verdict, V::ok);
  for (int i = 0; i < 5; ++i)  // five addresses, one wrong password each: within every per-client limit
    EXPECT_EQ((*auth)->check(basic("prom:wrong"), *client_key("2001:db8:" + std::to_string(i + 1) + "::1"), now).verdict,
              V::denied)
        << i;
  auto t = (*auth)->check(basic("prom:wrong"), *client_key("2001:db8:99::1"), now);
  EXPECT_EQ(t.verdict, V::throttled);
  EXPECT_TRUE(t.global);
  EXPECT_GE(t.retry_after.count(), 1);
  // Right but never seen: unknown credentials, not tried either.
  EXPECT_EQ((*auth)->check(basic("ops:other"), *client_key("2001:db8:98::1"), now).verdict, V::throttled);
  // Remembered (passed before): still in, from anywhere.
  EXPECT_EQ((*auth)->check(basic("prom:right"), *client_key("2001:db8:97::1"), now).verdict, V::ok);
  // A token comes back every 60/5 s.
  EXPECT_EQ((*auth)->check(basic("ops:other"), *client_key("2001:db8:98::1"), now + std::chrono::seconds(13)).verdict,
            V::ok);
}

TEST(AdminAuth, FileErrorsNameTheLine) {
  auto plain = AdminAuth::parse("prom:secret\n", "f");
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().find("f:1: not a crypt(3) hash"), std::string::npos);
  EXPECT_FALSE(AdminAuth::parse("prom:$1$abc$defghijklmnopqrstuvwxy\n", "f"));  // MD5: legacy
  EXPECT_FALSE(AdminAuth::parse("# nothing\n\n", "f"));
  EXPECT_FALSE(AdminAuth::parse(":$6$x$y\n", "f"));
}

}  // namespace
}  // namespace tlsrpt::daemon
