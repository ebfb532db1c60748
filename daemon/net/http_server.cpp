// Connections as C++20 coroutines on Boost.Asio/Beast. Each phase re-arms the
// stream's deadline before it starts (handshake, header, whole request, write, idle),
// so a peer that stalls anywhere is cut off (Beast's tcp_stream::expires_after). No
// exception leaves a coroutine: I/O errors come back as values (as_tuple).
#include "daemon/net/http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "daemon/config.hpp"
#include "daemon/intake/async_store.hpp"
#include "daemon/intake/intake.hpp"
#include "daemon/log.hpp"
#include "daemon/metrics.hpp"
#include "daemon/net/client_key.hpp"
#include "daemon/net/listener.hpp"
#include "daemon/net/tls_stream.hpp"
#include "daemon/protocol/http_head.hpp"
#include "parser/text.hpp"

namespace tlsrpt::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

struct HttpServer::Connection {
  asio::any_io_executor executor;
  beast::tcp_stream* lowest = nullptr;  // valid while the coroutine runs (touched on `executor` only)
  bool idle = false;                    // between two requests of a keep-alive connection (`executor` only)
  std::atomic<bool> waiting{true};      // in the TLS handshake or waiting for a request header
  bool in_body_read = false;            // a read of a report body is pending (`executor` only)
  bool evicted = false;                 // chosen by evict_idle() (guarded by the registry's lock)
  bool closing = false;                 // evicted: closes after a request that slipped in (`executor` only)
};

namespace {

}  // namespace

using RequestParser = http::request_parser<http::string_body>;

// The coroutine bodies, with access to the server's private parts.
struct SessionRunner {
  HttpServer& srv;
  std::shared_ptr<HttpServer::Connection> conn;
  std::string peer;
  std::string key;  // client_key(peer): the unit of the per-client caps

  template <class Stream>
  asio::awaitable<void> write(Stream& stream, const HttpReply& reply, unsigned version, bool keep_alive,
                              bool head_only) {
    http::response<http::string_body> res{static_cast<http::status>(reply.status), version};
    res.set(http::field::server, "tlsrptd");
    res.set(http::field::content_type, reply.content_type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [k, v] : reply.headers) res.set(k, v);
    if (!head_only) res.body() = reply.body;
    res.keep_alive(keep_alive);
    res.prepare_payload();
    conn->lowest->expires_after(srv.options_.write_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, kAwait);
    if (ec) metrics().inc("tlsrptd_timeouts_total", {{"listener", srv.options_.name}, {"phase", "write"}});
    co_return;
  }

  template <class Stream>
  asio::awaitable<void> serve(Stream& stream) {
    const auto& opt = srv.options_;
    beast::flat_buffer buffer(opt.max_header_bytes + 16 * 1024);
    for (std::size_t n = 0; n < opt.max_requests_per_connection && (n == 0 || !srv.stopping_); ++n) {
      RequestParser parser;
      auto policy = srv.policy();
      parser.header_limit(static_cast<std::uint32_t>(opt.max_header_bytes));
      parser.body_limit(policy->limits.max_submission_bytes);
      // A graceful stop closes keep-alive connections between requests; a fresh
      // connection's request (often already sent) is read and answered. The wait
      // happens in this frame: an idle connection holds no other coroutine frame.
      conn->idle = n > 0;
      conn->waiting = true;
      conn->lowest->expires_after(n == 0 ? opt.header_timeout : opt.idle_timeout);
      auto [ec, bytes] = co_await http::async_read_header(stream, buffer, parser, kAwait);
      conn->idle = false;
      conn->waiting = false;
      if (ec) {
        co_await answer_header_error(stream, parser, ec, n, *policy);
        co_return;
      }
      const auto started = std::chrono::steady_clock::now();
      HttpRequestHead head = head_of(parser, peer);
      // The rest of the request (the body) must arrive within request_timeout, however
      // slowly it trickles: one deadline for the whole read, not a gap timer.
      conn->lowest->expires_after(opt.request_timeout);
      std::optional<HttpReply> reply = co_await answer(stream, buffer, parser, head, policy);
      if (!reply) co_return;  // a broken or stalled body: nothing stored, nothing to answer
      const bool keep_alive = parser.get().keep_alive() && !reply->close && !srv.stopping_ && !conn->closing &&
                              n + 1 < opt.max_requests_per_connection;
      co_await write(stream, *reply, head.version, keep_alive, head.method == "HEAD");
      metrics().inc("tlsrptd_http_requests_total", {{"listener", opt.name}, {"code", std::to_string(reply->status)}});
      metrics().observe("tlsrptd_http_request_duration_seconds", {{"listener", opt.name}},
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      if (!keep_alive) break;
    }
  }

  // A header read that failed, answered where an answer helps (413, 431, 400); a
  // timeout, a reset or a clean close gets none.
  template <class Stream>
  asio::awaitable<void> answer_header_error(Stream& stream, RequestParser& parser, boost::system::error_code ec,
                                            std::size_t n, const HttpPolicy& policy) {
    const auto& opt = srv.options_;
    if (ec == beast::error::timeout)
      metrics().inc("tlsrptd_timeouts_total", {{"listener", opt.name}, {"phase", n == 0 ? "header" : "idle"}});
    if (ec == http::error::body_limit) {
      // Beast checks Content-Length against the body limit while parsing the header:
      // 413 before a byte of the body is read.
      Error e = too_large(policy);
      HttpReply r = reply_for_outcome(Outcome::too_large, &e, policy);
      metrics().inc("tlsrptd_http_requests_total", {{"listener", opt.name}, {"code", "413"}});
      co_await write(stream, r, parser.get().version() ? parser.get().version() : 11, false, false);
    } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      HttpReply r = reply_for_outcome(Outcome::bad_request, nullptr, policy);
      r.status = 431;
      r.body = R"({"status":"bad-request","error":"request header fields too large"})";
      co_await write(stream, r, 11, false, false);
    } else if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != asio::error::eof &&
               ec != asio::error::operation_aborted && ec != asio::ssl::error::stream_truncated &&
               ec != asio::error::connection_reset) {
      HttpReply r = reply_for_outcome(Outcome::bad_request, nullptr, policy);
      co_await write(stream, r, 11, false, false);
    }
  }

  static Error too_large(const HttpPolicy& policy) {
    return Error{RejectReason::too_large, "",
                 "body is larger than the limit of " + std::to_string(policy.limits.max_submission_bytes) + " bytes"};
  }

  // The reply to a request whose header has been read, by route; nullopt when the
  // connection is to be closed without one.
  template <class Stream>
  asio::awaitable<std::optional<HttpReply>> answer(Stream& stream, beast::flat_buffer& buffer, RequestParser& parser,
                                                   const HttpRequestHead& head,
                                                   const std::shared_ptr<const HttpPolicy>& policy) {
    const Route route = route_for(head.target, *policy);
    HttpReply reply;
    auto inspect = policy->admin ? nullptr : srv.inspect();
    if (inspect && (head.method == "GET" || head.method == "HEAD") && InspectService::owns(head.target)) {
      reply = co_await answer_inspection(std::move(inspect), head, parser.get()["X-Forwarded-For"]);
    } else if (auto denied = co_await check_admin_auth(parser.get()[http::field::authorization], *policy)) {
      reply = std::move(*denied);
    } else if (auto early = check_head(head, *policy)) {
      reply = std::move(*early);
    } else if (route == Route::healthz) {
      reply = co_await answer_healthz(*policy);
    } else if (route == Route::metrics) {
      reply.status = 200;
      reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
      reply.body = metrics().render();
    } else {
      co_return co_await receive_report(stream, buffer, parser, head, policy);
    }
    // A body these routes do not read makes the stream unusable.
    if (parser.content_length().value_or(0) > 0 || parser.chunked()) reply.close = true;
    co_return reply;
  }

  // admin.password_file: every admin request needs valid credentials (401 with the
  // challenge Prometheus answers; 429 once this address, or all together, failed too
  // often; 503 when admin.max_password_checks are under way). The hash runs on the
  // AdminAuth's own thread, never here; `auth` is held until it is back.
  asio::awaitable<std::optional<HttpReply>> check_admin_auth(std::string_view authorization, const HttpPolicy& policy) {
    auto auth = srv.options_.admin_auth;
    if (!auth) co_return std::nullopt;
    auto begun = auth->begin(authorization, client_key(peer).value_or(ClientKey{}), RateLimiter::Clock::now());
    AdminAuth::Decision d;
    if (auto* now = std::get_if<AdminAuth::Decision>(&begun))
      d = *now;
    else
      d = co_await auth->async_check(std::get<AdminAuth::Pending>(std::move(begun)), asio::use_awaitable);
    co_return admin_auth_reply(d, policy);
  }

  std::optional<HttpReply> admin_auth_reply(const AdminAuth::Decision& d, const HttpPolicy& policy) {
    using V = AdminAuth::Verdict;
    if (d.verdict == V::ok) return std::nullopt;
    if (d.verdict == V::denied) {
      HttpReply r = reply_for_outcome(Outcome::unauthorized, nullptr, policy);
      r.headers.emplace_back("WWW-Authenticate", R"(Basic realm="tlsrptd admin", charset="UTF-8")");
      return r;
    }
    const bool busy = d.verdict == V::busy;
    const char* limit = busy ? "max_password_checks" : d.global ? "max_failures_per_minute" : "failures_per_client";
    metrics().inc("tlsrptd_requests_refused_total", {{"listener", srv.options_.name}, {"reason", limit}});
    HttpReply r = reply_for_outcome(busy ? Outcome::overloaded : Outcome::too_many_attempts, nullptr, policy);
    for (auto& [name, value] : r.headers)
      if (name == "Retry-After") value = std::to_string(std::max<long>(1, static_cast<long>(d.retry_after.count())));
    return r;
  }

  // The inspection site, never logged (README.md#inspection-endpoint): what needs no DNS
  // (pages, refusals, 503 beyond the queue) answered here at once; an admitted
  // inspection runs on the inspection threads and resumes on this connection's executor.
  // `inspect` is held to the end: a reload may replace the server's meanwhile.
  asio::awaitable<HttpReply> answer_inspection(std::shared_ptr<InspectService> inspect, const HttpRequestHead& head,
                                               std::string_view forwarded_for) {
    const std::string client = inspect->client_for(peer, forwarded_for);
    auto begun = inspect->begin(head.method, head.target, client);
    record::SiteReply site;
    if (auto* now = std::get_if<record::SiteReply>(&begun))
      site = std::move(*now);
    else
      site = co_await inspect->async_run(std::get<PendingInspection>(std::move(begun)), asio::use_awaitable);
    HttpReply reply;
    reply.status = site.status;
    reply.content_type = site.content_type;
    reply.body = std::move(site.body);
    reply.headers = std::move(site.headers);
    co_return reply;
  }

  asio::awaitable<HttpReply> answer_healthz(const HttpPolicy& policy) {
    const bool ok = co_await async_probe(srv.writer_, asio::use_awaitable);
    HttpReply reply;
    reply.status = ok ? 200 : 503;
    reply.outcome = ok ? Outcome::stored : Outcome::storage_unavailable;
    reply.body = ok ? R"({"status":"ok"})" : R"({"status":"storage-unavailable"})";
    if (!ok) reply.headers.emplace_back("Retry-After", std::to_string(policy.retry_after.count()));
    co_return reply;
  }

  // A report: its bytes reserved in the shared budget before the body is read, then
  // checked and stored. nullopt when the body broke off or stalled.
  template <class Stream>
  asio::awaitable<std::optional<HttpReply>> receive_report(Stream& stream, beast::flat_buffer& buffer,
                                                           RequestParser& parser, const HttpRequestHead& head,
                                                           const std::shared_ptr<const HttpPolicy>& policy) {
    const std::size_t reserve = parser.content_length() ? static_cast<std::size_t>(*parser.content_length())
                                                        : policy->limits.max_submission_bytes;
    // Cutting this body (to make room for a client holding less) cancels its read, and
    // nothing else: not the 100-continue, not the 503 (read_body checks the cut itself).
    auto cancel = [c = conn] {
      asio::post(c->executor, [c] {
        if (c->in_body_read && c->lowest) c->lowest->cancel();
      });
    };
    auto grant = srv.reserve_body(key, reserve, cancel);
    if (!grant.body) {
      HttpReply reply = reply_for_outcome(Outcome::overloaded, nullptr, *policy);
      reply.close = true;
      co_return reply;
    }
    struct Release {
      HttpServer& s;
      std::shared_ptr<BodyBudget::Body> body;
      ~Release() { s.release_body(*body); }
    } release{srv, grant.body};
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
      auto [wec, wn] = co_await http::async_write(stream, cont, kAwait);
      if (wec) co_return std::nullopt;
    }
    auto ec = co_await read_body(stream, buffer, parser, *grant.body);
    if (grant.body->cut) {
      log_info(srv.options_.name + ": " + peer + ": body cut after " + std::to_string(grant.body->received.load()) +
               " of " + std::to_string(reserve) + " bytes to make room for a client holding less");
      HttpReply reply = reply_for_outcome(Outcome::overloaded, nullptr, *policy);
      reply.close = true;
      co_return reply;
    }
    if (ec == http::error::body_limit) {
      Error e = too_large(*policy);
      HttpReply reply = reply_for_outcome(Outcome::too_large, &e, *policy);
      reply.close = true;
      co_return reply;
    }
    if (ec) {
      if (ec == beast::error::timeout)
        metrics().inc("tlsrptd_timeouts_total", {{"listener", srv.options_.name}, {"phase", "body"}});
      co_return std::nullopt;
    }
    co_return co_await store_report(head, std::move(parser.get().body()), policy);
  }

  // Reads the body, counting its progress (the cut rule takes the slowest body first),
  // until it is complete, fails, or is cut. A complete body wins, even over a cut that
  // landed after its last read (settle undoes that cut).
  template <class Stream>
  asio::awaitable<beast::error_code> read_body(Stream& stream, beast::flat_buffer& buffer, RequestParser& parser,
                                               BodyBudget::Body& body) {
    while (!parser.is_done()) {
      // Cut before this read started: its cancel (posted) finds no read to cancel.
      if (body.cut) co_return asio::error::operation_aborted;
      conn->in_body_read = true;
      auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, kAwait);
      conn->in_body_read = false;
      if (ec) co_return ec;
      srv.bodies_.progress(body, n);
    }
    srv.bodies_.settle(body);
    co_return beast::error_code{};
  }

  // The body through the one intake (daemon/intake/intake.hpp) and the store; the
  // reply says what became of it, and only a committed report gets a 2xx.
  asio::awaitable<HttpReply> store_report(const HttpRequestHead& head, std::string body,
                                          const std::shared_ptr<const HttpPolicy>& policy) {
    Submission sub;
    sub.transport = Transport::https;
    sub.source = peer;
    sub.client = client_key(peer);  // the daily budget of unauthenticated bytes
    sub.media_type = media_type(head.content_type);
    sub.path_domain = report_path_domain(head.target, *policy).value_or(std::string());
    sub.received_at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    auto decoded = decode_content(head, body, *policy);
    if (!decoded) {
      IntakeDecision none;
      log_outcome(sub, none, decoded.error().outcome, decoded.error().detail);
      co_return std::move(decoded.error());
    }
    sub.bytes = *decoded ? std::string_view((*decoded)->data(), (*decoded)->size()) : std::string_view(body);
    sub.received_bytes = body.size();
    IntakeDecision d = srv.intake_.check(sub);
    decoded->reset();
    if (d.kind != IntakeDecision::Kind::store && d.kind != IntakeDecision::Kind::hold) {
      log_outcome(sub, d, d.outcome);
      HttpReply r = reply_for_outcome(d.outcome, d.error ? &*d.error : nullptr, *policy);
      if (d.retry_after.count() > 0)  // over_budget: the time to 00:00 UTC
        for (auto& [name, value] : r.headers)
          if (name == "Retry-After") value = std::to_string(d.retry_after.count());
      co_return r;
    }
    std::string().swap(d.report->canonical_json);  // only its hash is stored: don't keep the text queued
    StoreResult result = co_await async_store(srv.writer_, std::move(*d.report), d.provenance, std::move(body),
                                              d.hold_reason, asio::use_awaitable);
    log_outcome(sub, d, result.outcome, result.detail);
    co_return reply_for_outcome(result.outcome, nullptr, *policy);
  }

  asio::awaitable<void> run_tls(tcp::socket socket, std::shared_ptr<asio::ssl::context> ctx) {
    TlsStream stream(std::move(socket), ctx->native_handle());
    conn->lowest = &beast::get_lowest_layer(stream);
    conn->lowest->expires_after(srv.options_.handshake_timeout);
    auto [ec, n0] = co_await stream.async_handshake(kAwait);
    if (ec) {
      metrics().inc("tlsrptd_tls_handshake_failures_total", {{"listener", srv.options_.name}});
      if (ec == beast::error::timeout)
        metrics().inc("tlsrptd_timeouts_total", {{"listener", srv.options_.name}, {"phase", "handshake"}});
      log_debug(srv.options_.name + ": " + peer + ": TLS handshake failed: " + ec.message());
      co_return;
    }
    co_await serve(stream);
    // close_notify, without waiting for the peer's.
    conn->lowest->expires_after(std::chrono::seconds(1));
    auto [sec, n1] = co_await stream.async_shutdown(kAwait);
    (void)sec;
  }

  asio::awaitable<void> run_plain(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    conn->lowest = &stream;
    co_await serve(stream);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
};

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, StoreWriter& writer, const Intake& intake,
                       TlsContextHolder* tls, std::shared_ptr<InspectService> inspect)
    : io_(io),
      options_(std::move(options)),
      writer_(writer),
      intake_(intake),
      tls_(tls),
      inspect_(std::move(inspect)),
      clients_(options_.max_connections_per_client),
      bodies_(options_.max_body_bytes_in_flight, options_.max_body_bytes_per_client) {
  policy_.store(std::make_shared<const HttpPolicy>(options_.policy));
}

void HttpServer::set_policy(HttpPolicy policy) { policy_.store(std::make_shared<const HttpPolicy>(std::move(policy))); }

std::expected<void, std::string> HttpServer::listen(const std::string& address) {
  auto acc = open_tcp_listener(io_, address);
  if (!acc) return std::unexpected(acc.error());
  acceptors_.push_back(std::move(*acc));
  return {};
}

std::expected<void, std::string> HttpServer::adopt(int fd) {
  auto family = socket_family(fd);
  if (!family) return std::unexpected(family.error());
  auto acc = adopt_tcp_listener(io_, fd, *family);
  if (!acc) return std::unexpected(acc.error());
  acceptors_.push_back(std::move(*acc));
  return {};
}

std::vector<std::string> HttpServer::local_endpoints() const {
  std::vector<std::string> out;
  for (const auto& a : acceptors_)
    if (auto text = endpoint_text(a); !text.empty()) out.push_back(std::move(text));
  return out;
}

BodyBudget::Grant HttpServer::reserve_body(const std::string& client_key, std::size_t n,
                                           std::function<void()> cancel) {
  auto grant = bodies_.reserve(client_key, n, BodyBudget::Clock::now(), std::move(cancel));
  const auto& name = options_.name;
  if (grant.refused == BodyBudget::Refusal::per_client)
    metrics().inc("tlsrptd_requests_refused_total", {{"listener", name}, {"reason", "max_body_bytes_per_client"}});
  else if (grant.refused == BodyBudget::Refusal::in_flight)
    metrics().inc("tlsrptd_requests_refused_total", {{"listener", name}, {"reason", "max_body_bytes_in_flight"}});
  if (!grant.cut.empty())
    metrics().inc("tlsrptd_request_bodies_cut_total", {{"listener", name}}, static_cast<double>(grant.cut.size()));
  metrics().set("tlsrptd_bytes_in_flight", {{"listener", name}}, static_cast<double>(bodies_.used()));
  return grant;
}

void HttpServer::release_body(BodyBudget::Body& body) {
  bodies_.release(body);
  metrics().set("tlsrptd_bytes_in_flight", {{"listener", options_.name}}, static_cast<double>(bodies_.used()));
}

void HttpServer::start() {
  for (std::size_t i = 0; i < acceptors_.size(); ++i) accept_loop(i);
}

void HttpServer::accept_loop(std::size_t index) {
  auto self = shared_from_this();
  // On the acceptor's strand, like the stop's cancel: the two never race.
  asio::co_spawn(
      acceptors_[index].get_executor(),
      [self, index]() -> asio::awaitable<void> {
        const auto& name = self->options_.name;
        while (auto next = co_await accept_next(self->acceptors_[index], self->io_, self->stopping_, name)) {
          tcp::socket socket = std::move(*next);
          beast::error_code pec;
          auto remote = socket.remote_endpoint(pec);
          if (pec) continue;
          std::string key = client_key(remote.address()).str();
          if (!self->clients_.admit(key)) {
            metrics().inc("tlsrptd_connections_refused_total", {{"listener", name}, {"reason", "max_connections_per_client"}});
            continue;  // the socket closes as it goes out of scope
          }
          // Full: make room by closing the oldest connection that has not sent a
          // request (nginx reuses idle keep-alive connections the same way), so a
          // flood of silent sockets cannot lock senders out until its deadlines
          // pass (scenario 17 in docs/guarantees.md#reliability-scenarios).
          // Connections being evicted do not count.
          if (self->open_.load() - std::min(self->open_.load(), self->evicting_.load()) >=
                  self->options_.max_connections &&
              !self->evict_idle()) {
            self->clients_.release(key);
            metrics().inc("tlsrptd_connections_refused_total", {{"listener", name}, {"reason", "max_connections"}});
            continue;
          }
          socket.set_option(tcp::no_delay(true), pec);
          ++self->open_;
          metrics().inc("tlsrptd_connections_total", {{"listener", name}});
          metrics().add("tlsrptd_open_connections", {{"listener", name}}, 1);

          auto conn = std::make_shared<HttpServer::Connection>();
          conn->executor = socket.get_executor();
          const std::uint64_t id = self->conns_.add(conn);
          std::string peer = remote.address().to_string();
          auto ctx = self->tls_ ? self->tls_->get() : nullptr;
          auto ex = socket.get_executor();
          asio::co_spawn(
              ex,
              [self, conn, peer, key, ctx, s = std::move(socket)]() mutable -> asio::awaitable<void> {
                SessionRunner runner{*self, conn, peer, key};
                if (self->options_.tls)
                  co_await runner.run_tls(std::move(s), ctx);
                else
                  co_await runner.run_plain(std::move(s));
              },
              [self, key, id, conn](std::exception_ptr e) {
                log_connection_failure(self->options_.name, e);
                self->conns_.remove(id, [&] {
                  if (conn->evicted) --self->evicting_;
                });
                self->clients_.release(key);
                --self->open_;
                metrics().add("tlsrptd_open_connections", {{"listener", self->options_.name}}, -1);
              });
        }
      },
      [self](std::exception_ptr e) {
        if (e) log_error(self->options_.name + ": the accept loop stopped unexpectedly");
      });
}

bool HttpServer::evict_idle() {
  std::shared_ptr<Connection> victim;
  // The oldest first; `evicted` and evicting_ change under the registry's lock.
  conns_.find_if([&](const std::shared_ptr<Connection>& c) {
    if (c->evicted || !c->waiting.load()) return false;
    c->evicted = true;
    ++evicting_;
    victim = c;
    return true;
  });
  if (!victim) return false;
  // Only if it is still waiting: a header that arrived as the cancel ran is answered,
  // then the connection closes. A request that has begun is left alone and counts
  // again (it may be chosen once idle again); the next idle connection makes room.
  asio::post(victim->executor, [self = shared_from_this(), victim] {
    if (victim->waiting.load() && victim->lowest) {
      victim->lowest->cancel();
      victim->closing = true;
      metrics().inc("tlsrptd_connections_evicted_total", {{"listener", self->options_.name}});
      return;
    }
    self->conns_.find_if([&](const std::shared_ptr<Connection>& c) {
      if (c != victim) return false;
      if (c->evicted) --self->evicting_;
      c->evicted = false;
      return true;
    });
    if (!self->stopping_) self->evict_idle();
  });
  return true;
}

void HttpServer::stop_accepting() {
  stopping_ = true;
  for (auto& a : acceptors_) {
    asio::post(a.get_executor(), [&a] {
      beast::error_code ec;
      a.cancel(ec);  // the accept loop drains the backlog and closes the socket
    });
  }
  // Idle keep-alive connections are closed now; busy ones close after their reply.
  conns_.for_each([](const std::shared_ptr<Connection>& conn) {
    asio::post(conn->executor, [conn] {
      if (conn->idle && conn->lowest) conn->lowest->cancel();
    });
  });
}

}  // namespace tlsrpt::daemon
