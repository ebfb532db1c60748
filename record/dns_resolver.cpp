// c-ares driven by poll(2) with an overall deadline. The channel never outlives its
// resolver and is used from one thread at a time; answers are copied out of c-ares'
// buffers before the callback returns.
#include "record/dns_resolver.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace tlsrpt::record {
namespace {

constexpr int kClassIn = 1;
constexpr int kTypeMx = 15;
constexpr int kTypeTxt = 16;
constexpr int kTypeTlsa = 52;
// RFC 6891 §6.2.5 / DNS flag day 2020: 1232 avoids IP fragmentation; bigger answers
// come over TCP (c-ares retries on TC by itself).
constexpr int kEdnsPayload = 1232;
constexpr std::size_t kMaxQueryName = 253;

std::once_flag g_ares_init;
int g_ares_init_rc = ARES_SUCCESS;

DnsStatus from_ares(int status) {
  switch (status) {
    case ARES_SUCCESS: return DnsStatus::answer;
    case ARES_ENODATA: return DnsStatus::nodata;
    case ARES_ENOTFOUND: return DnsStatus::nxdomain;
    case ARES_ESERVFAIL: return DnsStatus::servfail;
    case ARES_EREFUSED: return DnsStatus::refused;
    case ARES_ETIMEOUT: return DnsStatus::timeout;
    case ARES_ECANCELLED: return DnsStatus::timeout;  // only our deadline cancels
    case ARES_ECONNREFUSED: return DnsStatus::unreachable;
    default: return DnsStatus::error;
  }
}

std::string hex_upper(const unsigned char* p, std::size_t n) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 15]);
  }
  return out;
}

struct Pending {
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<unsigned char> message;
};

void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* p = static_cast<Pending*>(arg);
  p->done = true;
  p->status = status;
  if (status == ARES_SUCCESS && abuf && alen > 0) p->message.assign(abuf, abuf + alen);
}

}  // namespace

std::string_view to_token(DnsStatus s) {
  switch (s) {
    case DnsStatus::answer: return "answer";
    case DnsStatus::nxdomain: return "nxdomain";
    case DnsStatus::nodata: return "nodata";
    case DnsStatus::servfail: return "servfail";
    case DnsStatus::refused: return "refused";
    case DnsStatus::timeout: return "timeout";
    case DnsStatus::unreachable: return "unreachable";
    case DnsStatus::error: return "error";
  }
  return "error";
}

std::string_view describe(DnsStatus s) {
  switch (s) {
    case DnsStatus::answer: return "answered";
    case DnsStatus::nxdomain: return "the name does not exist (NXDOMAIN)";
    case DnsStatus::nodata: return "the name exists but has no records of this type";
    case DnsStatus::servfail: return "the DNS server failed to answer (SERVFAIL)";
    case DnsStatus::refused: return "the DNS server refused to answer (REFUSED)";
    case DnsStatus::timeout: return "no answer from the DNS server before the deadline";
    case DnsStatus::unreachable: return "the DNS server could not be reached";
    case DnsStatus::error: return "the DNS lookup failed";
  }
  return "the DNS lookup failed";
}

bool lookup_failed(DnsStatus s) {
  return s != DnsStatus::answer && s != DnsStatus::nxdomain && s != DnsStatus::nodata;
}

std::string DnsServer::text() const {
  char buf[INET6_ADDRSTRLEN] = "";
  inet_ntop(family, address.data(), buf, sizeof buf);
  return family == AF_INET6 ? "[" + std::string(buf) + "]:" + std::to_string(port)
                            : std::string(buf) + ":" + std::to_string(port);
}

std::expected<DnsServer, std::string> parse_dns_server(std::string_view spec) {
  DnsServer s;
  std::string host;
  std::string_view port;
  auto bad = [&](std::string why) {
    return std::unexpected("DNS server \"" + std::string(spec.substr(0, 80)) + "\": " + why);
  };
  if (spec.empty()) return bad("empty");
  if (spec.front() == '[') {
    auto close = spec.find(']');
    if (close == std::string_view::npos) return bad("missing \"]\"");
    host = std::string(spec.substr(1, close - 1));
    std::string_view rest = spec.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("expected \":port\" after \"]\"");
      port = rest.substr(1);
      if (port.empty()) return bad("empty port");
    }
  } else if (std::count(spec.begin(), spec.end(), ':') > 1) {
    host = std::string(spec);  // a bare IPv6 address: port 53
  } else if (auto colon = spec.find(':'); colon != std::string_view::npos) {
    host = std::string(spec.substr(0, colon));
    port = spec.substr(colon + 1);
    if (port.empty()) return bad("empty port");
  } else {
    host = std::string(spec);
  }
  if (inet_pton(AF_INET, host.c_str(), s.address.data()) == 1) {
    s.family = AF_INET;
  } else if (inet_pton(AF_INET6, host.c_str(), s.address.data()) == 1) {
    s.family = AF_INET6;
  } else {
    return bad("not an IP address (write 127.0.0.1:5353 or [::1]:5353)");
  }
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return bad("the port is not a number");
    unsigned long p = std::stoul(std::string(port));
    if (p == 0 || p > 65535) return bad("the port must be between 1 and 65535");
    s.port = static_cast<std::uint16_t>(p);
  }
  return s;
}

std::string TlsaRecord::text() const {
  return std::to_string(usage) + " " + std::to_string(selector) + " " + std::to_string(matching_type) + " " + data_hex;
}

std::expected<std::unique_ptr<DnsResolver>, std::string> DnsResolver::create(const ResolverOptions& o) {
  std::vector<DnsServer> servers;
  for (const auto& spec : o.servers) {
    auto s = parse_dns_server(spec);
    if (!s) return std::unexpected(s.error());
    servers.push_back(*s);
  }
  if (o.timeout.count() <= 0) return std::unexpected(std::string("the DNS timeout must be positive"));
  std::call_once(g_ares_init, [] { g_ares_init_rc = ares_library_init(ARES_LIB_INIT_ALL); });
  if (g_ares_init_rc != ARES_SUCCESS)
    return std::unexpected(std::string("c-ares: ") + ares_strerror(g_ares_init_rc));

  int tries = std::clamp(o.tries, 1, 5);
  // c-ares doubles the per-try timeout each round; split the overall budget so that
  // all tries fit in it: t + 2t + ... + 2^(n-1)t = (2^n - 1)t.
  long per_try = std::max<long>(100, static_cast<long>(o.timeout.count()) / ((1L << tries) - 1));
  ares_options opts{};
  int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ;
  opts.timeout = static_cast<int>(per_try);
  opts.tries = tries;
  // NOCHECKRESP: c-ares 1.18 would treat SERVFAIL/REFUSED as "try the next server" and,
  // with none left, report ECONNREFUSED, hiding what the server said. An admin checking
  // their DNS needs that answer, so it is passed on (timeouts still fail over).
  opts.flags = ARES_FLAG_EDNS | ARES_FLAG_NOCHECKRESP;
  opts.ednspsz = kEdnsPayload;
  ares_channel channel = nullptr;
  int rc = ares_init_options(&channel, &opts, mask);
  if (rc != ARES_SUCCESS) return std::unexpected(std::string("c-ares: ") + ares_strerror(rc));
  if (!servers.empty()) {
    std::vector<ares_addr_port_node> nodes(servers.size());
    for (std::size_t i = 0; i < servers.size(); ++i) {
      nodes[i].next = i + 1 < servers.size() ? &nodes[i + 1] : nullptr;
      nodes[i].family = servers[i].family;
      if (servers[i].family == AF_INET)
        std::memcpy(&nodes[i].addr.addr4, servers[i].address.data(), 4);
      else
        std::memcpy(&nodes[i].addr.addr6, servers[i].address.data(), 16);
      nodes[i].udp_port = servers[i].port;
      nodes[i].tcp_port = servers[i].port;
    }
    rc = ares_set_servers_ports(channel, nodes.data());
    if (rc != ARES_SUCCESS) {
      ares_destroy(channel);
      return std::unexpected(std::string("c-ares: cannot set the DNS servers: ") + ares_strerror(rc));
    }
  }
  return std::unique_ptr<DnsResolver>(new DnsResolver(channel, o.timeout));
}

DnsResolver::DnsResolver(ares_channeldata* channel, std::chrono::milliseconds timeout)
    : channel_(channel), timeout_(timeout) {}

DnsResolver::~DnsResolver() { ares_destroy(channel_); }

DnsResolver::Raw DnsResolver::query(std::string_view name, int type) {
  Raw raw;
  if (name.empty() || name.size() > kMaxQueryName || name.find('\0') != std::string_view::npos) {
    raw.status = DnsStatus::error;
    raw.detail = "not a valid query name";
    return raw;
  }
  Pending p;
  std::string qname(name);
  ares_query(channel_, qname.c_str(), kClassIn, type, on_answer, &p);
  const auto own_deadline = std::chrono::steady_clock::now() + timeout_;
  const auto deadline = std::min(own_deadline, stop_at_);
  while (!p.done) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline || (cancel_ && cancel_->load())) {
      ares_cancel(channel_);  // runs on_answer with ARES_ECANCELLED before returning
      break;
    }
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(channel_, socks, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM];
    nfds_t n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
      if (events) fds[n++] = pollfd{socks[i], events, 0};
    }
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - now);
    timeval max_tv{static_cast<time_t>(left.count() / 1000000), static_cast<suseconds_t>(left.count() % 1000000)};
    timeval tv{};
    timeval* wait = ares_timeout(channel_, &max_tv, &tv);
    int ms = static_cast<int>(wait->tv_sec * 1000 + (wait->tv_usec + 999) / 1000);
    if (cancel_) ms = std::min(ms, 100);  // to see the flag
    int ready = poll(fds, n, ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      raw.detail = std::string("poll: ") + std::strerror(errno);
      ares_cancel(channel_);
      raw.status = DnsStatus::error;
      return raw;
    }
    if (ready == 0) {
      ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // let c-ares handle its timeouts
      continue;
    }
    for (nfds_t i = 0; i < n; ++i) {
      ares_socket_t r = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD;
      ares_socket_t w = (fds[i].revents & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD;
      if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD) ares_process_fd(channel_, r, w);
    }
  }
  raw.status = from_ares(p.status);
  if (raw.status == DnsStatus::timeout)
    raw.detail = deadline < own_deadline ? std::string("no answer before the inspection's deadline")
                                         : "no answer within " + std::to_string(timeout_.count()) + " ms";
  else if (raw.status != DnsStatus::answer) raw.detail = ares_strerror(p.status);
  raw.message = std::move(p.message);
  return raw;
}

DnsAnswer<TxtRecord> DnsResolver::txt(std::string_view name) {
  DnsAnswer<TxtRecord> out;
  Raw raw = query(name, kTypeTxt);
  out.status = raw.status;
  out.detail = raw.detail;
  if (raw.status != DnsStatus::answer) return out;
  ares_txt_ext* list = nullptr;
  int rc = ares_parse_txt_reply_ext(raw.message.data(), static_cast<int>(raw.message.size()), &list);
  if (rc != ARES_SUCCESS) {
    out.status = rc == ARES_ENODATA ? DnsStatus::nodata : DnsStatus::error;
    out.detail = rc == ARES_ENODATA ? "" : std::string("malformed TXT answer: ") + ares_strerror(rc);
    return out;
  }
  for (ares_txt_ext* t = list; t; t = t->next) {
    if (t->record_start || out.records.empty()) out.records.emplace_back();
    std::string s(reinterpret_cast<const char*>(t->txt), t->length);
    out.records.back().joined += s;  // RFC 8460 §3: concatenated without adding spaces
    out.records.back().strings.push_back(std::move(s));
  }
  ares_free_data(list);
  if (out.records.empty()) out.status = DnsStatus::nodata;
  out.ttl = answer_min_ttl(raw.message.data(), raw.message.size()).value_or(0);
  return out;
}

DnsAnswer<MxRecord> DnsResolver::mx(std::string_view name) {
  DnsAnswer<MxRecord> out;
  Raw raw = query(name, kTypeMx);
  out.status = raw.status;
  out.detail = raw.detail;
  if (raw.status != DnsStatus::answer) return out;
  ares_mx_reply* list = nullptr;
  int rc = ares_parse_mx_reply(raw.message.data(), static_cast<int>(raw.message.size()), &list);
  if (rc != ARES_SUCCESS) {
    out.status = rc == ARES_ENODATA ? DnsStatus::nodata : DnsStatus::error;
    out.detail = rc == ARES_ENODATA ? "" : std::string("malformed MX answer: ") + ares_strerror(rc);
    return out;
  }
  for (ares_mx_reply* m = list; m; m = m->next) {
    std::string host = m->host ? m->host : "";
    if (!host.empty() && host.back() == '.') host.pop_back();
    out.records.push_back(MxRecord{m->priority, std::move(host)});
  }
  ares_free_data(list);
  std::sort(out.records.begin(), out.records.end(), [](const MxRecord& a, const MxRecord& b) {
    return a.preference != b.preference ? a.preference < b.preference : a.host < b.host;
  });
  if (out.records.empty()) out.status = DnsStatus::nodata;
  return out;
}

DnsAnswer<TlsaRecord> DnsResolver::tlsa(std::string_view name) {
  DnsAnswer<TlsaRecord> out;
  Raw raw = query(name, kTypeTlsa);
  out.status = raw.status;
  out.detail = raw.detail;
  if (raw.status != DnsStatus::answer) return out;
  auto parsed = parse_tlsa_answer(raw.message.data(), raw.message.size());
  if (!parsed) {
    out.status = DnsStatus::error;
    out.detail = parsed.error();
    return out;
  }
  out.records = std::move(*parsed);
  if (out.records.empty()) out.status = DnsStatus::nodata;  // e.g. only a CNAME
  return out;
}

namespace {

// One resource record of a DNS message's answer section (RFC 1035 §4.1.3).
struct AnswerRecord {
  unsigned type = 0, cls = 0;
  std::uint32_t ttl = 0;
  const unsigned char* rdata = nullptr;
  unsigned rdlen = 0;
};

// Calls `each` for every answer record, bounds-checked; "" or why the message is malformed.
template <class Each>
std::string walk_answers(const unsigned char* msg, std::size_t len, Each each) {
  // RFC 1035 §4.1: a 12-byte header, the question section, then the answer section.
  if (len < 12) return "malformed DNS answer: shorter than its header";
  if (len > 65535) return "malformed DNS answer: longer than 65535 bytes";
  auto u16 = [&](std::size_t at) { return static_cast<unsigned>(msg[at] << 8 | msg[at + 1]); };
  unsigned qdcount = u16(4), ancount = u16(6);
  std::size_t pos = 12;
  auto skip_name = [&]() -> bool {
    char* name = nullptr;
    long enclen = 0;
    if (pos >= len || ares_expand_name(msg + pos, msg, static_cast<int>(len), &name, &enclen) != ARES_SUCCESS) return false;
    ares_free_string(name);
    pos += static_cast<std::size_t>(enclen);
    return pos <= len;
  };
  for (unsigned i = 0; i < qdcount; ++i) {
    if (!skip_name() || pos + 4 > len) return "malformed DNS answer: bad question section";
    pos += 4;
  }
  for (unsigned i = 0; i < ancount; ++i) {
    if (!skip_name() || pos + 10 > len) return "malformed DNS answer: bad answer record";
    AnswerRecord rr;
    rr.type = u16(pos);
    rr.cls = u16(pos + 2);
    rr.ttl = static_cast<std::uint32_t>(u16(pos + 4)) << 16 | u16(pos + 6);
    rr.rdlen = u16(pos + 8);
    pos += 10;
    if (pos + rr.rdlen > len) return "malformed DNS answer: record data past the end";
    rr.rdata = msg + pos;
    if (std::string e = each(rr); !e.empty()) return e;
    pos += rr.rdlen;
  }
  return {};
}

}  // namespace

std::optional<std::uint32_t> answer_min_ttl(const unsigned char* msg, std::size_t len) {
  std::optional<std::uint32_t> min;
  const std::string error = walk_answers(msg, len, [&](const AnswerRecord& rr) {
    min = std::min(min.value_or(rr.ttl), rr.ttl);
    return std::string();
  });
  if (!error.empty()) return std::nullopt;
  return min;
}

std::expected<std::vector<TlsaRecord>, std::string> parse_tlsa_answer(const unsigned char* msg, std::size_t len) {
  std::vector<TlsaRecord> out;
  const std::string error = walk_answers(msg, len, [&](const AnswerRecord& rr) -> std::string {
    if (rr.type != kTypeTlsa || rr.cls != kClassIn) return {};
    // RFC 6698 §2.1: usage, selector, matching type (one byte each), then the data.
    if (rr.rdlen < 3) return "malformed TLSA record: shorter than 3 bytes";
    TlsaRecord t;
    t.usage = rr.rdata[0];
    t.selector = rr.rdata[1];
    t.matching_type = rr.rdata[2];
    t.data_hex = hex_upper(rr.rdata + 3, rr.rdlen - 3);
    out.push_back(std::move(t));
    return {};
  });
  if (!error.empty()) return std::unexpected(error);
  return out;
}

}  // namespace tlsrpt::record
