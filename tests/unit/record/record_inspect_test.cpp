// daemon/record_inspect.cpp without DNS: the domain gate in front of every lookup,
// the MTA-STS record judgement, the rollout verdict, and the JSON shapes.
#include "record/record_inspect.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tlsrpt::record {
namespace {

TEST(InspectDomain, Accepted) {
  struct Case {
    std::string in, out;
  };
  std::string long_ok = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                        std::string(57, 'd') + ".com";  // 253 characters
  ASSERT_EQ(long_ok.size(), 253u);
  for (const Case& c : {Case{"example.com", "example.com"}, Case{"Example.COM.", "example.com"},
                        Case{"  example.com\n", "example.com"}, Case{"bücher.example", "xn--bcher-kva.example"},
                        Case{"_smtp._tls.example.com", "example.com"}, Case{"mail-1.a-b.example", "mail-1.a-b.example"},
                        Case{long_ok, long_ok}}) {
    auto d = validate_inspect_domain(c.in);
    ASSERT_TRUE(d) << c.in << ": " << d.error();
    EXPECT_EQ(*d, c.out);
  }
}

TEST(InspectDomain, RefusedBeforeAnyDns) {
  struct Case {
    std::string in;
    const char* reason;
  };
  std::string too_long = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                         std::string(58, 'd') + ".com";  // 254
  for (const Case& c : {
           Case{"", "enter a domain name"},
           Case{"   ", "enter a domain name"},
           Case{"192.0.2.1", "IP address"},
           Case{"[192.0.2.1]", "IP address"},
           Case{"2001:db8::1", "IP address"},
           Case{"::ffff:192.0.2.1", "IP address"},
           Case{"1.2.3", "IP address"},
           Case{too_long, "more than the 253"},
           Case{std::string(64, 'a') + ".example", "more than the 63"},
           Case{"a..b", "empty label"},
           Case{".example.com", "empty label"},
           Case{"_x", "only letters, digits and hyphens"},
           Case{"_x.example.com", "only letters, digits and hyphens"},
           Case{"exa mple.com", "only letters, digits and hyphens"},
           Case{"-a.example", "hyphen"},
           Case{"localhost", "full domain name"},
           Case{"https://example.com/", "not a URL"},
           Case{"me@example.com", "not an email address"},
           Case{std::string(2000, 'a'), "far too long"},
       }) {
    auto d = validate_inspect_domain(c.in);
    ASSERT_FALSE(d) << c.in.substr(0, 40) << " -> " << *d;
    EXPECT_NE(d.error().find(c.reason), std::string::npos) << c.in.substr(0, 40) << ": " << d.error();
  }
}

MtaStsLook sts(std::vector<std::string> records, DnsStatus st = DnsStatus::answer) {
  MtaStsLook m;
  m.name = "_mta-sts.example.com";
  m.status = st;
  m.records = std::move(records);
  judge_mta_sts(m);
  return m;
}

TEST(InspectDomain, OnlyPublicNamesForThePublicSite) {
  for (const char* name : {"intranet.corp", "host.local", "x.internal", "a.b.internal", "nas.lan", "home.arpa",
                           "router.home.arpa", "1.0.0.127.in-addr.arpa", "x.arpa", "secret.onion", "mail.localhost",
                           "printer.home", "x.test", "x.example", "x.invalid", "com", "co.uk", "github.io"})
    EXPECT_TRUE(private_name_refusal(name)) << name;
  for (const char* name : {"example.com", "mail.example.com", "x.co.uk", "foo.github.io", "xn--bcher-kva.de",
                           "gmail.com", "example.org"})
    EXPECT_FALSE(private_name_refusal(name)) << name;
}

TEST(MtaSts, Judgement) {
  auto ok = sts({"v=STSv1; id=20240101T000000"});
  EXPECT_TRUE(ok.valid);
  EXPECT_EQ(ok.id, "20240101T000000");
  EXPECT_TRUE(sts({"v=STSv1;id=1;", "v=spf1 -all"}).valid);
  EXPECT_FALSE(sts({}, DnsStatus::nxdomain).valid);

  auto two = sts({"v=STSv1; id=a", "v=STSv1; id=b"});
  EXPECT_FALSE(two.valid);
  ASSERT_EQ(two.problems.size(), 1u);
  EXPECT_NE(two.problems[0].find("2 TXT records"), std::string::npos);

  auto noid = sts({"v=STSv1;"});
  EXPECT_FALSE(noid.valid);
  EXPECT_NE(noid.problems.at(0).find("no id="), std::string::npos);

  auto badid = sts({"v=STSv1; id=" + std::string(33, '1')});
  EXPECT_FALSE(badid.valid);
  EXPECT_NE(badid.problems.at(0).find("1 to 32 letters and digits"), std::string::npos);

  auto typo = sts({"v=STSV1; id=1"});
  EXPECT_FALSE(typo.valid);
  EXPECT_NE(typo.problems.at(0).find("does not begin with \"v=STSv1;\""), std::string::npos);

  auto other = sts({"v=spf1 -all"});
  EXPECT_FALSE(other.valid);
  EXPECT_TRUE(other.problems.empty());
}

InspectResult base(bool tlsrpt_valid) {
  InspectResult r;
  r.domain = "example.com";
  r.name = "_smtp._tls.example.com";
  r.status = DnsStatus::answer;
  r.set = check_record_set({tlsrpt_valid ? "v=TLSRPTv1; rua=mailto:tlsrpt@reports.example.net"
                                         : "v=TLSRPTv1; rua=http://reports.example.net/"});
  r.looked_around = true;
  r.mx_status = DnsStatus::answer;
  r.mx = {MxLook{10, "mx1.example.com", "_25._tcp.mx1.example.com", DnsStatus::nxdomain, "", {}},
          MxLook{20, "mx2.example.com", "_25._tcp.mx2.example.com", DnsStatus::nxdomain, "", {}}};
  return r;
}

TEST(Rollout, Stages) {
  auto r = base(false);
  judge_rollout(r);
  EXPECT_EQ(r.stage, "none");
  EXPECT_NE(r.summary.find("cannot use it"), std::string::npos) << r.summary;

  r = base(false);
  r.set = check_record_set({});
  judge_rollout(r);
  EXPECT_EQ(r.stage, "none");
  EXPECT_NE(r.summary.find("Start here"), std::string::npos) << r.summary;

  r = base(false);
  r.mta_sts.valid = true;
  r.mta_sts.id = "1";
  judge_rollout(r);
  EXPECT_EQ(r.stage, "none");
  EXPECT_NE(r.summary.find("cannot use it"), std::string::npos);

  r = base(false);
  r.set = check_record_set({});
  r.mta_sts.valid = true;
  judge_rollout(r);
  EXPECT_NE(r.summary.find("although MTA-STS is in place"), std::string::npos) << r.summary;

  r = base(true);
  judge_rollout(r);
  EXPECT_EQ(r.stage, "tlsrpt");
  EXPECT_EQ(stage_label(r.stage), "TLS-RPT only");

  r = base(true);
  r.mta_sts.valid = true;
  r.mta_sts.id = "20240101";
  judge_rollout(r);
  EXPECT_EQ(r.stage, "tlsrpt+mta-sts");
  EXPECT_NE(r.summary.find("https://mta-sts.example.com/.well-known/mta-sts.txt"), std::string::npos);

  r = base(true);
  r.mx[0].tlsa = {"3 1 1 AB"};
  judge_rollout(r);
  EXPECT_EQ(r.stage, "tlsrpt+dane");
  EXPECT_NE(r.summary.find("1 of 2 MX hosts"), std::string::npos) << r.summary;

  r = base(true);
  r.mx[0].tlsa = {"3 1 1 AB"};
  r.mx[1].tlsa = {"3 1 1 CD"};
  r.mta_sts.valid = true;
  r.mta_sts.id = "x";
  judge_rollout(r);
  EXPECT_EQ(r.stage, "tlsrpt+mta-sts+dane");
  EXPECT_NE(r.summary.find("Every MX host"), std::string::npos);
  EXPECT_EQ(stage_label(r.stage), "TLS-RPT with MTA-STS and DANE");

  r = base(true);
  r.status = DnsStatus::timeout;
  judge_rollout(r);
  EXPECT_EQ(r.stage, "unknown");
  EXPECT_TRUE(r.dns_failed());
  EXPECT_FALSE(r.valid());
}

TEST(Headline, SaysWhatSendersConclude) {
  auto r = base(true);
  EXPECT_EQ(inspect_headline(r), "valid TLS-RPT record");
  r.set = check_record_set({"v=TLSRPTv1; rua=mailto:a@b.example", "v=TLSRPTv1; rua=mailto:c@d.example"});
  EXPECT_EQ(inspect_headline(r), "2 TLS-RPT records, so senders use none");
  r.set = check_record_set({"v=spf1 -all"});
  EXPECT_EQ(inspect_headline(r), "no TLS-RPT record");
  r = base(false);
  EXPECT_EQ(inspect_headline(r), "invalid TLS-RPT record");
  r.status = DnsStatus::servfail;
  EXPECT_EQ(inspect_headline(r), "DNS could not answer");
}

TEST(Json, InspectShape) {
  auto r = base(true);
  r.txt = {TxtRecord{"v=TLSRPTv1; rua=mailto:tlsrpt@reports.example.net",
                     {"v=TLSRPTv1; rua=mailto:tlsrpt@rep", "orts.example.net"}}};
  r.errors = r.set.errors;
  r.warnings = r.set.warnings;
  r.mx[1].tlsa = {"3 1 1 AB"};
  judge_rollout(r);
  std::string json = inspect_json(r);
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  ASSERT_EQ(p.parse(json).get(doc), simdjson::SUCCESS) << json;
  EXPECT_EQ(std::string_view(doc["domain"]), "example.com");
  EXPECT_EQ(std::string_view(doc["name"]), "_smtp._tls.example.com");
  EXPECT_EQ(std::string_view(doc["status"]), "answer");
  EXPECT_TRUE(bool(doc["valid"]));
  EXPECT_EQ(simdjson::dom::array(doc["records"]).size(), 1u);
  EXPECT_EQ(std::string_view(doc["records"].at(0)), "v=TLSRPTv1; rua=mailto:tlsrpt@reports.example.net");
  EXPECT_EQ(std::string_view(doc["strings"].at(0).at(1)), "orts.example.net");
  EXPECT_EQ(std::string_view(doc["rua"].at(0)["uri"]), "mailto:tlsrpt@reports.example.net");
  EXPECT_EQ(std::string_view(doc["rua"].at(0)["scheme"]), "mailto");
  EXPECT_TRUE(doc["errors"].is_array());
  EXPECT_TRUE(doc["warnings"].is_array());
  EXPECT_EQ(std::string_view(doc["mx"]["hosts"].at(1)["tlsa"].at(0)), "3 1 1 AB");
  EXPECT_EQ(int64_t(doc["mx"]["hosts"].at(0)["preference"]), 10);
  EXPECT_TRUE(doc["mta_sts"]["id"].is_null());
  EXPECT_EQ(std::string_view(doc["rollout"]["stage"]), "tlsrpt+dane");
}

TEST(Json, CheckAndGenerateShapes) {
  std::string rec = "v=TLSRPTv1; rua=mailto:a@example.com,http://x.example.net/; foo=bar";
  std::string json = check_json(rec, check_record(rec));
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  ASSERT_EQ(p.parse(json).get(doc), simdjson::SUCCESS) << json;
  EXPECT_TRUE(bool(doc["valid"]));
  EXPECT_EQ(std::string_view(doc["record"]), rec);
  EXPECT_EQ(simdjson::dom::array(doc["rua"]).size(), 2u);
  EXPECT_FALSE(bool(doc["rua"].at(1)["usable"]));
  EXPECT_EQ(std::string_view(doc["extensions"].at(0)["name"]), "foo");

  auto g = generate_record("example.com", {"mailto:tlsrpt@example.com"});
  ASSERT_TRUE(g);
  EXPECT_EQ(generate_json(*g),
            R"({"host":"_smtp._tls.example.com","type":"TXT","value":"v=TLSRPTv1; rua=mailto:tlsrpt@example.com"})");
  EXPECT_EQ(errors_json({"a \"b\""}), R"({"errors":["a \"b\""]})");
}

TEST(Json, HostileDnsTextStaysInsideItsString) {
  auto r = base(true);
  r.txt = {TxtRecord{"\"},\"valid\":true,\x01\n", {"\"},\"valid\":true,\x01\n"}}};
  std::string json = inspect_json(r);
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  ASSERT_EQ(p.parse(json).get(doc), simdjson::SUCCESS) << json;
  EXPECT_EQ(std::string_view(doc["records"].at(0)), "\"},\"valid\":true,\x01\n");
  EXPECT_EQ(json.find('\n'), std::string::npos);
}

// A real UDP DNS server on 127.0.0.1 (enough to drive the resolver through c-ares
// without dnsmasq): every query's name is recorded and `answer` writes the reply.
class LoopbackDns {
 public:
  struct Question {
    std::string name;
    int qtype = 0;
    std::vector<unsigned char> head;  // the query's header and question (any EDNS OPT dropped)
  };
  using Answer = std::function<std::vector<unsigned char>(const Question&)>;

  explicit LoopbackDns(Answer answer) : answer_(std::move(answer)) {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~LoopbackDns() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::string spec() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> names() {
    std::lock_guard l(m_);
    return names_;
  }
  int queries() { return static_cast<int>(names().size()); }

  // The reply's start: the query's header and question with QR and RA set, `rcode`
  // (0 NOERROR, 3 NXDOMAIN), and no records yet.
  static std::vector<unsigned char> reply(const Question& q, unsigned rcode) {
    std::vector<unsigned char> out = q.head;
    out[2] = static_cast<unsigned char>(0x80 | (out[2] & 0x01));  // QR, keep RD
    out[3] = static_cast<unsigned char>(0x80 | rcode);           // RA
    for (int i = 6; i < 12; ++i) out[i] = 0;                     // no answer, authority, additional
    return out;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      unsigned char buf[512];
      sockaddr_in peer{};
      socklen_t plen = sizeof peer;
      ssize_t n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &plen);
      if (n < 12) continue;
      Question q;
      std::size_t pos = 12;
      while (pos < static_cast<std::size_t>(n) && buf[pos] != 0) {
        if (!q.name.empty()) q.name += '.';
        q.name.append(reinterpret_cast<char*>(buf + pos + 1), buf[pos]);
        pos += 1 + buf[pos];
      }
      pos += 5;
      if (pos > static_cast<std::size_t>(n)) continue;
      q.qtype = (buf[pos - 4] << 8) | buf[pos - 3];
      q.head.assign(buf, buf + pos);
      {
        std::lock_guard l(m_);
        names_.push_back(q.name);
      }
      std::vector<unsigned char> out = answer_(q);
      sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&peer), plen);
    }
  }

  Answer answer_;
  int fd_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex m_;
  std::vector<std::string> names_;
  std::thread thread_;
};

// Answers every query with NXDOMAIN.
struct NxdomainServer : LoopbackDns {
  NxdomainServer() : LoopbackDns([](const Question& q) { return reply(q, 3); }) {}
};

TEST(InspectLoopback, NxdomainEverywhere) {
  NxdomainServer srv;
  auto res = DnsResolver::create(ResolverOptions{.servers = {srv.spec()}});
  ASSERT_TRUE(res) << res.error();
  InspectResult r = inspect_domain(**res, "sub.example.com");
  EXPECT_EQ(r.status, DnsStatus::nxdomain);
  EXPECT_FALSE(r.valid());
  EXPECT_FALSE(r.dns_failed());
  EXPECT_TRUE(r.looked_around);
  EXPECT_EQ(r.mx_status, DnsStatus::nxdomain);
  EXPECT_EQ(r.stage, "none");
  // _smtp._tls, the three placement hints (apex, _smtp-tlsrpt, parent), _mta-sts, MX.
  EXPECT_EQ(srv.queries(), 6);
}

TEST(InspectLoopback, BudgetCutsTheLookAroundShort) {
  NxdomainServer srv;
  auto res = DnsResolver::create(ResolverOptions{.servers = {srv.spec()}});
  ASSERT_TRUE(res) << res.error();
  // Enough for the verdict's own lookup (answered at once on loopback), then the
  // look-around finds the budget spent.
  InspectResult r = inspect_domain(**res, "example.com", std::chrono::milliseconds{1500});
  ASSERT_EQ(r.status, DnsStatus::nxdomain);
  EXPECT_GE(srv.queries(), 1);
  InspectResult none = inspect_domain(**res, "example.com", std::chrono::milliseconds{0});
  EXPECT_EQ(none.status, DnsStatus::timeout) << "no query runs past the budget, the verdict's own included";
  EXPECT_TRUE(none.dns_failed());
  EXPECT_EQ(none.stage, "unknown");
}

void put_name(std::vector<unsigned char>& out, const std::string& name) {
  std::size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<unsigned char>(dot - start));
    out.insert(out.end(), name.begin() + static_cast<long>(start), name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  out.push_back(0);
}

void put_mx(std::vector<unsigned char>& out, int pref, const std::string& host) {
  std::vector<unsigned char> rdata = {0, static_cast<unsigned char>(pref)};
  put_name(rdata, host);
  out.insert(out.end(), {0xC0, 0x0C, 0, 15, 0, 1, 0, 0, 1, 0, 0, static_cast<unsigned char>(rdata.size())});
  out.insert(out.end(), rdata.begin(), rdata.end());
}

// For an attacker's public domain whose MX names an internal host: MX queries get
// "10 exchange.corp.internal" and "20 mx.example.net", everything else NOERROR
// without records.
struct MxServer : LoopbackDns {
  MxServer()
      : LoopbackDns([](const Question& q) {
          std::vector<unsigned char> out = reply(q, 0);
          if (q.qtype == 15) {
            out[7] = 2;
            put_mx(out, 10, "exchange.corp.internal");
            put_mx(out, 20, "mx.example.net");
          }
          return out;
        }) {}
};

TEST(InspectLoopback, PublicSiteLooksUpNoPrivateMailHost) {
  // Review finding 4: "MX 10 exchange.corp.internal" on a public domain made the public
  // site ask the (possibly internal-view) resolver for _25._tcp.exchange.corp.internal.
  MxServer srv;
  auto res = DnsResolver::create(ResolverOptions{.servers = {srv.spec()}});
  ASSERT_TRUE(res) << res.error();
  InspectResult r = inspect_domain(**res, "attacker.example.com", kInspectBudget, /*public_names_only=*/true);
  ASSERT_EQ(r.mx.size(), 2u);
  EXPECT_EQ(r.mx[0].host, "exchange.corp.internal");
  EXPECT_TRUE(r.mx[0].not_public);
  EXPECT_EQ(tlsa_absence(r.mx[0]), "not looked up (not a public name)");
  EXPECT_FALSE(r.mx[1].not_public);
  const auto asked = srv.names();
  for (const auto& n : asked) EXPECT_EQ(n.find("internal"), std::string::npos) << n;
  EXPECT_NE(std::find(asked.begin(), asked.end(), "_25._tcp.mx.example.net"), asked.end());
  const std::string json = inspect_json(r);
  EXPECT_NE(json.find(R"("tlsa_status":"not_public")"), std::string::npos) << json;

  // The admin's own `record inspect` is not restricted.
  MxServer admin;
  auto res2 = DnsResolver::create(ResolverOptions{.servers = {admin.spec()}});
  ASSERT_TRUE(res2) << res2.error();
  InspectResult all = inspect_domain(**res2, "attacker.example.com");
  ASSERT_EQ(all.mx.size(), 2u);
  EXPECT_FALSE(all.mx[0].not_public);
  auto names = admin.names();
  EXPECT_NE(std::find(names.begin(), names.end(), "_25._tcp.exchange.corp.internal"), names.end());
}

// A server that reads every query and never answers (the scenario-29 kind of DNS).
class SilentServer {
 public:
  SilentServer() {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentServer() { close(fd_); }
  std::string spec() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  unsigned short port_ = 0;
};

TEST(InspectLoopback, NoQueryOutlivesTheInspectionBudget) {
  SilentServer srv;
  auto res = DnsResolver::create(ResolverOptions{.servers = {srv.spec()}, .timeout = std::chrono::milliseconds{30'000}});
  ASSERT_TRUE(res) << res.error();
  const auto t0 = std::chrono::steady_clock::now();
  InspectResult r = inspect_domain(**res, "example.com", std::chrono::milliseconds{300});
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.status, DnsStatus::timeout);
  EXPECT_NE(r.detail.find("deadline"), std::string::npos) << r.detail;
  // 300 ms budget against a 30 s per-query timeout: a huge margin either way.
  EXPECT_LT(took, std::chrono::seconds(10));
}

TEST(InspectLoopback, AStopFlagEndsTheQueryUnderWay) {
  SilentServer srv;
  auto res = DnsResolver::create(ResolverOptions{.servers = {srv.spec()}, .timeout = std::chrono::milliseconds{30'000}});
  ASSERT_TRUE(res) << res.error();
  std::atomic<bool> stop{false};
  (*res)->cancel_when(&stop);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stop = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto txt = (*res)->txt("_smtp._tls.example.com");
  const auto took = std::chrono::steady_clock::now() - t0;
  stopper.join();
  EXPECT_EQ(txt.status, DnsStatus::timeout);
  EXPECT_LT(took, std::chrono::seconds(10));  // against 30 s: a huge margin
}

}  // namespace
}  // namespace tlsrpt::record
