// The DNS stub resolver behind `record inspect` (and, later, the inspection endpoint):
// c-ares with configurable servers, driven synchronously by its own poll loop under a
// per-query deadline. One ares channel per DnsResolver: use one resolver per thread.
// DNS answers are untrusted input: failures are values (DnsStatus), never exceptions.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct ares_channeldata;

namespace tlsrpt::record {

// What a query came back with. Everything from servfail down means "DNS could not
// answer" (exit 75), as opposed to a definite answer about the name.
enum class DnsStatus {
  answer,       // NOERROR with records of the asked type
  nxdomain,     // the name does not exist
  nodata,       // the name exists, but has no records of this type (NOERROR, empty)
  servfail,     // the server failed (SERVFAIL), e.g. broken DNSSEC or delegation
  refused,      // the server refused to answer (REFUSED)
  timeout,      // no answer before the deadline
  unreachable,  // the server could not be reached (connection refused, no route)
  error,        // anything else: a malformed answer, FORMERR, NOTIMP, a local error
};
std::string_view to_token(DnsStatus s);  // "answer", "nxdomain", ... (stable, for JSON)
std::string_view describe(DnsStatus s);  // a short phrase for people
// True when the status says nothing about the name: the lookup itself failed.
bool lookup_failed(DnsStatus s);

// A server as configured: "192.0.2.53", "127.0.0.1:5353", "::1", "[::1]:5353".
// Only IP literals: the resolver's own address must not need DNS.
struct DnsServer {
  int family = 0;  // AF_INET or AF_INET6
  std::array<unsigned char, 16> address{};
  std::uint16_t port = 53;
  std::string text() const;  // "127.0.0.1:5353", "[::1]:5353"
};
std::expected<DnsServer, std::string> parse_dns_server(std::string_view spec);

struct ResolverOptions {
  std::vector<std::string> servers;              // empty: the system's /etc/resolv.conf
  std::chrono::milliseconds timeout{5000};       // per query, every try and server included
  int tries = 2;                                 // attempts per server
};

struct TxtRecord {
  std::string joined;                // the character-strings concatenated without spaces (RFC 8460 §3)
  std::vector<std::string> strings;  // as published
};

struct MxRecord {
  std::uint16_t preference = 0;
  std::string host;  // "" for a null MX (RFC 7505: the domain accepts no mail)
};

struct TlsaRecord {
  std::uint8_t usage = 0, selector = 0, matching_type = 0;
  std::string data_hex;  // upper-case hex of the certificate association data
  std::string text() const;  // "3 1 1 ABCD..." (RFC 8460 §4.5 policy-string form)
};

template <class T>
struct DnsAnswer {
  DnsStatus status = DnsStatus::error;
  std::vector<T> records;  // only when status == answer
  std::string detail;      // why, for failures ("connection refused" ...)
  std::uint32_t ttl = 0;   // the smallest TTL of the answer's records (txt() sets it), seconds
};

class DnsResolver {
 public:
  // Fails (with a lower-case reason) on a bad server spec or when c-ares cannot start.
  static std::expected<std::unique_ptr<DnsResolver>, std::string> create(const ResolverOptions& options);
  ~DnsResolver();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  DnsAnswer<TxtRecord> txt(std::string_view name);
  DnsAnswer<MxRecord> mx(std::string_view name);     // sorted by preference, then host
  DnsAnswer<TlsaRecord> tlsa(std::string_view name); // type 52, parsed from the raw RDATA
  // No query of this resolver runs past `at` (on top of the per-query timeout): one
  // whole inspection's deadline. A query asked after it is a timeout at once.
  void stop_at(std::chrono::steady_clock::time_point at) { stop_at_ = at; }
  // A query under way ends (as a timeout) within 100 ms of `*flag` turning true: the
  // daemon stopping. The flag must outlive the resolver.
  void cancel_when(const std::atomic<bool>* flag) { cancel_ = flag; }

 private:
  struct Raw {
    DnsStatus status = DnsStatus::error;
    std::string detail;
    std::vector<unsigned char> message;  // the whole DNS answer when status == answer
  };
  DnsResolver(ares_channeldata* channel, std::chrono::milliseconds timeout);
  Raw query(std::string_view name, int type);

  ares_channeldata* channel_;
  std::chrono::milliseconds timeout_;
  std::chrono::steady_clock::time_point stop_at_ = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancel_ = nullptr;
};

// The TLSA records (class IN, type 52) in the answer section of a DNS message, for
// tests and for the resolver. Bounds-checked; a malformed message is an error.
std::expected<std::vector<TlsaRecord>, std::string> parse_tlsa_answer(const unsigned char* message, std::size_t length);
// The smallest TTL among the answer section's records; nullopt for a malformed message
// or one without answer records.
std::optional<std::uint32_t> answer_min_ttl(const unsigned char* message, std::size_t length);

}  // namespace tlsrpt::record
