// The inspection endpoint behind the HTTPS listener (README.md#inspection-endpoint): rate limit (12 a
// minute per IPv4 address or IPv6 /64, X-Forwarded-For only from trusted proxies),
// a cap on inspections in flight, and the DNS work on its own small thread pool.
// It never logs the queried domain or the result.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/net/rate_limiter.hpp"
#include "record/inspect_page.hpp"

namespace tlsrpt::daemon {

struct InspectServiceOptions {
  std::vector<std::string> dns_servers;
  std::chrono::milliseconds dns_timeout{5000};
  unsigned per_minute = 12;
  std::size_t max_clients = 100'000;         // rate-limit keys remembered (LRU)
  std::size_t max_concurrent = 32;           // inspections in flight; beyond, 503
  std::vector<std::string> trusted_proxies;  // peers whose X-Forwarded-For is believed
};

class InspectService {
 public:
  explicit InspectService(InspectServiceOptions options);
  ~InspectService();

  // True for the paths this service answers on GET/HEAD.
  static bool owns(std::string_view target);
  // The client a request is counted for: the peer, or the last X-Forwarded-For
  // address when the peer is a trusted proxy.
  std::string client_for(std::string_view peer, std::string_view forwarded_for) const;
  // Blocking (DNS): call it on pool().
  record::SiteReply handle(std::string_view method, std::string_view target, std::string_view client);
  boost::asio::thread_pool& pool() { return pool_; }

 private:
  InspectServiceOptions options_;
  RateLimiter limiter_;
  std::atomic<std::size_t> in_flight_{0};
  boost::asio::thread_pool pool_;
};

}  // namespace tlsrpt::daemon
