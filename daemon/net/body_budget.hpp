// The request-body byte budget of one HTTP listener (https.max_body_bytes_in_flight),
// of which one client (IPv4 address or IPv6 /64, daemon/net/client_key.hpp) may hold
// a bounded share (https.max_body_bytes_per_client). Socket-free: it only counts and
// decides; the server cancels what it is told to cut.
//
// The cut rule (README.md#configuration, docs/guarantees.md#limits-and-deadlines):
// when the budget is full, a request is let in by cutting bodies still being read
// from the client that holds the most, as long as that client, after the cut, still
// holds at least as much as the requester will once admitted ("the client that holds
// less wins": equal holdings before the cut never cut, so two clients cannot cut each
// other back and forth). Among that client's bodies the slowest allowed one goes first
// (fewest bytes received per second since it started; then the oldest). So 8
// addresses x 4 connections trickling 2 MiB bodies cannot lock a ninth address out,
// and an attacker with endless IPv6 /64s never cuts a client's only body (nor any
// client that would then hold less than one of its /64s). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tlsrpt::daemon {

class BodyBudget {
 public:
  using Clock = std::chrono::steady_clock;

  // One reservation: a request body being read.
  struct Body : std::enable_shared_from_this<Body> {
    std::string key;
    std::size_t bytes = 0;
    Clock::time_point started;
    std::atomic<std::size_t> received{0};  // body bytes read so far
    std::atomic<bool> cut{false};          // cut to make room: its bytes are no longer counted
    bool settled = false;                  // completely read or released: never cut (budget's lock)
    std::function<void()> cancel;          // called (outside the lock) when cut; may be empty
  };

  enum class Refusal { none, per_client, in_flight };
  struct Grant {
    std::shared_ptr<Body> body;             // null when refused
    Refusal refused = Refusal::none;
    std::vector<std::shared_ptr<Body>> cut;  // bodies cut to make room (already cancelled)
  };

  BodyBudget(std::size_t total, std::size_t per_client) : total_(total), per_client_(per_client) {}

  // Reserves n bytes for client `key`; `cancel` is what cutting this body runs.
  Grant reserve(const std::string& key, std::size_t n, Clock::time_point now, std::function<void()> cancel = {});
  void progress(Body& b, std::size_t n) { b.received.fetch_add(n, std::memory_order_relaxed); }
  // The body is complete: from now on it is never cut (it holds its bytes until released).
  // A complete body wins over a cut that landed as its last bytes came in: the cut is
  // undone and its bytes counted again (the budget may then run over by that body).
  void settle(Body& b);
  // Gives the bytes back; nothing for a body that was cut (its bytes went at the cut).
  void release(Body& b);

  std::size_t used() const;
  std::size_t held_by(const std::string& key) const;

 private:
  struct Holder {
    std::size_t held = 0;
    std::vector<std::shared_ptr<Body>> bodies;
  };
  // The bodies to cut so that n more bytes fit for a client holding `mine`; empty
  // when the rule allows no cut that makes enough room. Budget's lock held.
  std::vector<std::shared_ptr<Body>> plan_cuts(const std::string& key, std::size_t n, Clock::time_point now) const;
  void forget(Body& b);  // budget's lock held

  const std::size_t total_, per_client_;
  mutable std::mutex mu_;
  std::size_t used_ = 0;
  std::map<std::string, Holder> holders_;
};

}  // namespace tlsrpt::daemon
