// libFuzzer target for the HTTPS report endpoint's request handling, socket-free:
// client bytes (in arbitrary chunks, requests pipelined on one connection) go
// through Beast's request_parser with the server's header and body limits, then
// check_head and accept_body (daemon/http_handler), as daemon/http_server.cpp does.
// The promise checked: a 2xx is decided only for a POST to the report path whose
// body ingest accepts on its own; every other reply is a well-formed 4xx/5xx.
// Input: [flags][request bytes...]; flags choose the policy and the chunking.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/intake/intake.hpp"
#include "daemon/protocol/http_handler.hpp"
#include "daemon/protocol/http_head.hpp"
#include "daemon/protocol/report_checks.hpp"
#include "parser/gunzip.hpp"

namespace {

using namespace tlsrpt;
using namespace tlsrpt::daemon;
namespace beast = boost::beast;
namespace http = beast::http;

[[noreturn]] void broken(const char* what, int line) {
  std::fprintf(stderr, "fuzz_http_request: invariant broken at line %d: %s\n", line, what);
  std::abort();
}
#define REQUIRE(c) ((c) ? (void)0 : broken(#c, __LINE__))

// A fixed receive time, so an input decides the same every run (accept_body's
// default reads the clock): 2027-01-01T00:00:00Z, after every seed's date-range;
// reports starting after 2027-01-02T00:00:00Z are refused (report_checks.hpp).
constexpr std::chrono::sys_seconds kNow{std::chrono::seconds{1798761600}};

struct Rng {  // xorshift32: the chunking comes from the flags byte
  std::uint32_t s;
  std::uint32_t next() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  }
};

struct Setup {
  HttpPolicy policy;
  IntakeRules rules;  // no DKIM verifier: HTTPS never asks for one
  std::size_t max_header_bytes = 16 * 1024;  // HttpServerOptions default (https.max_header_bytes)
};

Setup setup_from(std::uint8_t flags) {
  Setup s;
  s.policy.admin = flags & 0x01;
  if (flags & 0x02) s.rules.domains = {"example.com", "xn--bcher-kva.example"};
  if (flags & 0x04) {  // small limits, so short inputs reach them
    s.policy.limits.max_submission_bytes = 2048;
    s.policy.limits.max_report_bytes = 8192;
    s.policy.limits.ratio_grace_bytes = 1024;
    s.policy.limits.max_inflate_ratio = 10;
    s.max_header_bytes = 1024;
  }
  if (flags & 0x08) s.policy.report_path = "/tlsrpt";
  if (flags & 0x10) s.policy.report_path = "/v1/";  // per-domain paths too
  s.rules.limits = s.policy.limits;
  return s;
}

void check_error_reply(const HttpReply& r) {
  REQUIRE(r.status >= 400 && r.status <= 599);
  REQUIRE(r.status == reply_for(r.outcome).http_status);
  REQUIRE(!reply_for(r.outcome).success());
  REQUIRE(r.body.starts_with("{\"status\":\"") && r.body.ends_with("}"));
  for (const auto& [k, v] : r.headers) {  // no header injection from request text
    for (char c : k + v) REQUIRE(c != '\r' && c != '\n' && c != '\0');
  }
}

// The body ingest sees: Content-Encoding gzip undone (bounded), else as sent.
std::expected<Ingested, Error> ingest_alone(const HttpRequestHead& head, const std::string& body, Ingestor& ingestor) {
  std::string enc = head.content_encoding;
  for (char& c : enc) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  while (!enc.empty() && (enc.back() == ' ' || enc.back() == '\t')) enc.pop_back();
  while (!enc.empty() && (enc.front() == ' ' || enc.front() == '\t')) enc.erase(0, 1);
  if (enc == "gzip" || enc == "x-gzip") {
    std::vector<char> out;
    auto r = gunzip(body, out, ingestor.limits());
    if (!r) return std::unexpected(r.error());
    return ingestor.ingest(std::string_view(out.data(), out.size()));
  }
  return ingestor.ingest(body);
}

class Connection {
 public:
  Connection(std::string_view stream, const Setup& setup, Rng rng)
      : stream_(stream), setup_(setup), intake_(setup.rules), rng_(rng) {}

  // One request, as SessionRunner::serve handles it. False: the connection ends.
  bool request(Ingestor& ingestor, Ingestor& alone_ingestor) {
    const HttpPolicy& policy = setup_.policy;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(setup_.max_header_bytes));
    parser.body_limit(policy.limits.max_submission_bytes);

    beast::error_code ec = feed(parser, true);
    if (ec) {
      // The server answers 413 (Content-Length over the limit), 431 or 400, and closes.
      return false;
    }
    if (!parser.is_header_done()) return false;  // the header deadline would fire

    const HttpRequestHead head = head_of(parser, "192.0.2.7:41000");
    const Route route = route_for(head.target, policy);
    const bool body_pending = parser.content_length().value_or(0) > 0 || parser.chunked();
    if (head.content_length) REQUIRE(*head.content_length <= policy.limits.max_submission_bytes);

    HttpReply reply;
    if (auto early = check_head(head, policy)) {
      check_error_reply(*early);
      if (early->status == 413) REQUIRE(head.content_length && *head.content_length > policy.limits.max_submission_bytes);
      reply = std::move(*early);
      if (body_pending) reply.close = true;
    } else if (route != Route::report) {
      REQUIRE(route == Route::healthz || route == Route::metrics);
      REQUIRE(head.method == "GET" || head.method == "HEAD");
      if (body_pending) reply.close = true;
    } else {
      REQUIRE(!policy.admin);
      REQUIRE(head.method == "POST");
      ec = feed(parser, false);
      if (ec || !parser.is_done()) return false;  // 413 and close, or a stalled body
      const std::string body = parser.get().body();
      REQUIRE(body.size() <= policy.limits.max_submission_bytes);
      auto alone = ingest_alone(head, body, alone_ingestor);
      // As SessionRunner::store_report: Content-Encoding, then the one intake.
      auto decoded = decode_content(head, body, policy);
      if (!decoded) {
        check_error_reply(decoded.error());
        reply = std::move(decoded.error());
        return parser.get().keep_alive() && !reply.close;
      }
      Submission sub;
      sub.transport = Transport::https;
      sub.source = head.peer;
      sub.bytes = *decoded ? std::string_view((*decoded)->data(), (*decoded)->size()) : std::string_view(body);
      sub.path_domain = report_path_domain(head.target, policy).value_or(std::string());
      sub.received_at = kNow;
      IntakeDecision d = intake_.check(sub, ingestor);
      if (d.kind == IntakeDecision::Kind::store || d.kind == IntakeDecision::Kind::hold) {
        // The server now stores it and answers 2xx: only for what ingest accepts.
        if (!alone) {
          std::fprintf(stderr, "accepted, but ingest alone says: %s\n", alone.error().text().c_str());
          broken("2xx only for bodies ingest accepts", __LINE__);
        }
        REQUIRE(d.kind == IntakeDecision::Kind::store);  // nobody signs an HTTPS report: nothing to hold
        REQUIRE(!d.provenance.authenticated && d.provenance.signing_domain.empty());
        REQUIRE(alone->content_sha256 == d.report->content_sha256);
        // What is counted is for a served domain, or for none (unattributed).
        for (const auto& p : d.report->parsed.report.policies)
          REQUIRE(p.policy.domain.empty() || is_served(p.policy.domain, setup_.rules.domains));
        REQUIRE(d.report->parsed.report.policies.size() <= alone->parsed.report.policies.size());
        REQUIRE(d.report->parsed.report.date_range.start <= kNow + kMaxReportAhead);
      } else {
        REQUIRE(d.kind == IntakeDecision::Kind::reject);
        reply = reply_for_outcome(d.outcome, d.error ? &*d.error : nullptr, policy);
        check_error_reply(reply);
      }
    }
    return parser.get().keep_alive() && !reply.close;
  }

  bool exhausted() const { return stream_.empty() && buffered_ == 0; }

 private:
  // Puts bytes into the parser in random chunks, the unconsumed rest kept in front
  // (as Beast's read does with its buffer): up to the end of the header, or of the
  // message. At the end of the input, put_eof (the peer closed).
  beast::error_code feed(http::request_parser<http::string_body>& parser, bool header_only) {
    beast::error_code ec;
    for (;;) {
      if (header_only ? parser.is_header_done() : parser.is_done()) return {};
      if (buffered_ > 0) {
        std::size_t used = parser.put(boost::asio::const_buffer(pending_.data(), buffered_), ec);
        pending_.erase(0, used);
        buffered_ -= used;
        if (ec && ec != http::error::need_more) return ec;
        if (header_only ? parser.is_header_done() : parser.is_done()) return {};
        if (!ec && used > 0) continue;
      }
      if (stream_.empty()) {
        parser.put_eof(ec);
        return ec ? ec : beast::error_code(http::error::partial_message);
      }
      const std::uint32_t r = rng_.next();
      std::size_t n = stream_.size();
      switch (r % 4) {
        case 0: n = 1; break;
        case 1: n = 1 + (r >> 8) % 32; break;
        case 2: n = 1 + (r >> 8) % 1500; break;
        default: break;
      }
      n = std::min(n, stream_.size());
      pending_.append(stream_.substr(0, n));
      buffered_ += n;
      stream_.remove_prefix(n);
    }
  }

  std::string_view stream_;
  const Setup& setup_;
  Intake intake_;
  Rng rng_;
  std::string pending_;
  std::size_t buffered_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const Setup setup = setup_from(data[0]);
  // One Ingestor per limit set for the run, as each server thread keeps one; a
  // second set judges the bodies on their own.
  static Ingestor default_ingestor, default_alone;
  static Ingestor small_ingestor(setup_from(0x04).policy.limits), small_alone(setup_from(0x04).policy.limits);
  const bool small = data[0] & 0x04;
  Ingestor& ingestor = small ? small_ingestor : default_ingestor;
  Ingestor& alone = small ? small_alone : default_alone;

  Connection conn(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), setup,
                  Rng{0x9e3779b9u ^ (std::uint32_t{data[0]} * 0x01000193u)});
  for (int n = 0; n < 8 && !conn.exhausted(); ++n)
    if (!conn.request(ingestor, alone)) break;
  return 0;
}
