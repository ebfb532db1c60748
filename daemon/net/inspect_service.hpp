// The inspection endpoint behind the HTTPS listener (README.md#inspection-endpoint): rate limit (12 a
// minute per IPv4 address or IPv6 /64, X-Forwarded-For only from trusted proxies),
// only public names (unless allowed), admission (max_concurrent running on the
// inspection threads, max_queued waiting, the rest 503 at once), and the DNS work on
// those threads only, under one deadline per inspection. Nothing blocking ever runs
// on a network thread: begin() is quick, async_run() hands the DNS work to the pool
// and completes on the awaiting connection's own executor.
// It never logs the queried domain or the result.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "daemon/net/rate_limiter.hpp"
#include "record/inspect_page.hpp"

namespace tlsrpt::daemon {

struct InspectServiceOptions {
  std::vector<std::string> dns_servers;
  std::chrono::milliseconds dns_timeout{5000};
  unsigned per_minute = 12;
  std::size_t max_clients = 100'000;         // rate-limit keys remembered (LRU)
  std::size_t max_concurrent = 8;            // inspections running: the inspection threads
  std::size_t max_queued = 16;               // inspections waiting for a thread; beyond, 503 at once
  std::chrono::milliseconds timeout{20'000};  // one inspection, its wait in the queue included
  bool allow_private_names = false;          // inspect names outside the public suffix list too
  std::vector<std::string> trusted_proxies;  // peers whose X-Forwarded-For is believed
};

// Admission of inspections (socket-free): at most max_running + max_queued admitted at
// once; a Ticket counts its inspection as queued, then as running from start() on,
// until it is destroyed. The counts are what the metrics and tests read.
class InspectAdmission {
 public:
  struct Limits {
    std::size_t max_running = 8;
    std::size_t max_queued = 16;
  };
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)), running_(o.running_) {}
    Ticket& operator=(Ticket&& o) noexcept;
    ~Ticket() { release(); }
    // Queued -> running. False (and still queued) when max_running are running already.
    bool start();
    bool admitted() const { return owner_ != nullptr; }

   private:
    friend class InspectAdmission;
    explicit Ticket(InspectAdmission* owner) : owner_(owner) {}
    void release();
    InspectAdmission* owner_ = nullptr;
    bool running_ = false;
  };

  explicit InspectAdmission(Limits limits) : limits_(limits) {}
  // A ticket, or nullopt when max_running + max_queued are admitted already.
  std::optional<Ticket> enter();
  std::size_t running() const;
  std::size_t queued() const;
  std::size_t peak_running() const;  // most running at once so far

 private:
  Limits limits_;
  mutable std::mutex mu_;
  std::size_t running_ = 0, queued_ = 0, peak_running_ = 0;
};

// An admitted inspection, between begin() and async_run().
struct PendingInspection {
  record::SitePlan plan;
  InspectAdmission::Ticket ticket;
  std::chrono::steady_clock::time_point deadline;
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
  // Quick, never blocks (call it on the network thread): the whole reply (a page, 429,
  // 400, 403, or 503 when max_concurrent + max_queued are admitted), or an admitted
  // inspection for async_run().
  std::variant<record::SiteReply, PendingInspection> begin(std::string_view method, std::string_view target,
                                                           std::string_view client);
  // Runs the inspection on the inspection threads; the reply completes on the
  // handler's (the awaiting connection's) executor. The service must outlive it.
  template <class Token>
  auto async_run(PendingInspection pending, Token&& token);
  // Blocking (DNS, until the pending inspection's deadline at the latest): on pool() only.
  record::SiteReply run(PendingInspection& pending);
  // Daemon stop: DNS under way ends within 100 ms, queued inspections get 503, and the
  // threads of every service are joined (serve calls it once its network threads are
  // done, so no completion is posted to a destroyed event loop).
  static void drain_all();
  // Daemon stopping (SIGTERM): the same cut without waiting, so the requests in flight
  // get their (cut) answer within shutdown_timeout instead of being closed unanswered.
  static void stop_all();
  const InspectAdmission& admission() const { return admission_; }

 private:
  void drain();
  InspectServiceOptions options_;
  RateLimiter limiter_;
  InspectAdmission admission_;
  std::atomic<bool> stopping_{false};
  boost::asio::thread_pool pool_;
};

template <class Token>
auto InspectService::async_run(PendingInspection pending, Token&& token) {
  namespace asio = boost::asio;
  return asio::async_initiate<Token, void(record::SiteReply)>(
      [this](auto handler, PendingInspection p) {
        asio::post(pool_, [this, h = std::move(handler), p = std::move(p)]() mutable {
          record::SiteReply reply = run(p);  // releases p.ticket
          auto ex = asio::get_associated_executor(h);
          asio::post(ex, [h = std::move(h), r = std::move(reply)]() mutable { std::move(h)(std::move(r)); });
        });
      },
      token, std::move(pending));
}

}  // namespace tlsrpt::daemon
