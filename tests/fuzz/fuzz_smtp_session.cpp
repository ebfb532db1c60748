// libFuzzer target for daemon/smtp_session: arbitrary client bytes in arbitrary
// chunks, with message outcomes, TLS handshakes and timer expiries interleaved.
// It checks the engine's promises, not its replies: never more than one message
// per DATA (354), nothing after close, well-formed bounded replies, delivered data
// without bare CR/LF and within the limits. Input: [flags][seed][client bytes...].
// FUZZ_SMTP_TRACE=1 in the environment prints every action (to see what a seed does).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/protocol/smtp_session.hpp"

namespace {

using namespace tlsrpt::daemon;
using namespace std::chrono_literals;

[[noreturn]] void broken(const char* what, int line) {
  std::fprintf(stderr, "fuzz_smtp_session: invariant broken at line %d: %s\n", line, what);
  std::abort();
}
#define REQUIRE(c) ((c) ? (void)0 : broken(#c, __LINE__))

struct Rng {  // xorshift32: the chunking and event schedule come from the input's seed byte
  std::uint32_t s;
  std::uint32_t next() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  }
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

class Checker {
 public:
  Checker(const SmtpSession& s, const SmtpOptions& o) : s_(s), o_(o) {}

  void absorb(const SmtpActions& acts) {
    for (const auto& a : acts) {
      if (trace_) trace(a);
      REQUIRE(!closed_);  // nothing after CloseConnection, ever
      if (const auto* r = std::get_if<SendReply>(&a)) {
        check_reply(r->reply);
        if (r->reply.code == 354) data_open_ = true;
      } else if (const auto* m = std::get_if<DeliverMessage>(&a)) {
        REQUIRE(data_open_);  // at most one message per DATA
        data_open_ = false;
        check_message(*m);
        last_recipients_ = m->envelope.recipients.size();
      } else if (std::holds_alternative<StartTls>(a)) {
        REQUIRE(o_.tls_available);
        REQUIRE(!s_.tls_active());
      } else if (std::holds_alternative<CloseConnection>(a)) {
        closed_ = true;
      }
    }
    REQUIRE(closed_ == s_.closed());
  }

  // After complete_message in LMTP: one reply per recipient first, all alike.
  void check_outcome(const SmtpActions& acts) {
    if (!o_.lmtp) return;
    REQUIRE(acts.size() >= last_recipients_);
    int code = 0;
    for (std::size_t i = 0; i < last_recipients_; ++i) {
      const auto* r = std::get_if<SendReply>(&acts[i]);
      REQUIRE(r != nullptr);
      if (i == 0) code = r->reply.code;
      REQUIRE(r->reply.code == code);
    }
  }

 private:
  void check_reply(const SmtpReply& r) {
    REQUIRE(r.code >= 200 && r.code <= 599);
    REQUIRE(!r.lines.empty());
    const std::string wire = r.wire();
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < wire.size(); ++i) {
      const auto c = static_cast<unsigned char>(wire[i]);
      if (c == '\r') {
        REQUIRE(i + 1 < wire.size() && wire[i + 1] == '\n');
        REQUIRE(i + 2 - line_start <= 512);  // RFC 5321 §4.5.3.1.5
        line_start = i + 2;
        ++i;
      } else {
        REQUIRE(c >= 0x20 && c < 0x7f);
      }
    }
    REQUIRE(line_start == wire.size());
  }

  void check_message(const DeliverMessage& m) {
    REQUIRE(m.data.size() <= o_.max_message_bytes);
    REQUIRE(!m.envelope.recipients.empty());
    REQUIRE(m.envelope.recipients.size() <= o_.max_recipients);
    for (const auto& rcpt : m.envelope.recipients) {
      if (o_.recipients.empty()) continue;
      bool listed = false;
      for (const auto& want : o_.recipients) listed = listed || iequals(want, rcpt);
      REQUIRE(listed);  // never relays
    }
    REQUIRE(m.data.empty() || m.data.ends_with("\r\n"));
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < m.data.size(); ++i) {
      if (m.data[i] == '\n') REQUIRE(i > 0 && m.data[i - 1] == '\r');
      if (m.data[i] == '\r') {
        REQUIRE(i + 1 < m.data.size() && m.data[i + 1] == '\n');
        REQUIRE(i + 2 - line_start <= o_.max_text_line);
        line_start = i + 2;
      }
    }
  }

  static void trace(const SmtpAction& a) {
    if (const auto* r = std::get_if<SendReply>(&a))
      std::fprintf(stderr, "  S: %s\n", r->reply.summary().c_str());
    else if (const auto* m = std::get_if<DeliverMessage>(&a))
      std::fprintf(stderr, "  <deliver %zu bytes>\n", m->data.size());
    else if (const auto* t = std::get_if<StartTls>(&a))
      std::fprintf(stderr, "  <starttls, %zu bytes discarded>\n", t->discarded_bytes);
    else if (const auto* c = std::get_if<CloseConnection>(&a))
      std::fprintf(stderr, "  <close %s>\n", std::string(to_token(c->reason)).c_str());
  }

  const SmtpSession& s_;
  const SmtpOptions& o_;
  const bool trace_ = std::getenv("FUZZ_SMTP_TRACE") != nullptr;
  bool closed_ = false;
  bool data_open_ = false;
  std::size_t last_recipients_ = 0;
};

SmtpOptions options_from(std::uint8_t flags) {
  SmtpOptions o;
  o.hostname = "mx.example.com";
  o.lmtp = flags & 0x01;
  o.tls_available = flags & 0x02;
  if (!(flags & 0x04)) o.recipients = {"tlsrpt@example.com", "TLS-Reports@Example.org"};
  if (flags & 0x08) {  // small limits, so short inputs reach them
    o.max_command_line = 64;
    o.max_text_line = 80;
    o.max_message_bytes = 300;
    o.max_recipients = 3;
    o.junk_command_limit = 5;
    o.soft_error_limit = 2;
    o.hard_error_limit = 4;
    o.max_pending_input = 256;
  }
  if (flags & 0x10) o.greet_delay = 1s;
  if (flags & 0x20) o.long_line_limit = 3;
  return o;
}

MessageResult outcome_from(std::uint32_t r) {
  // Every outcome a delivery can come to (daemon/net/smtp_server.cpp).
  static constexpr Outcome kAll[] = {Outcome::stored,    Outcome::duplicate,           Outcome::conflict,
                                     Outcome::held,      Outcome::not_a_report,        Outcome::malformed,
                                     Outcome::too_large, Outcome::no_policy_for_domain, Outcome::storage_unavailable,
                                     Outcome::overloaded};
  MessageResult m{kAll[r % std::size(kAll)], {}};
  if (r & 0x100) m.detail = "detail \r\n250 ok \x01";  // hostile detail text
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const SmtpOptions options = options_from(data[0]);
  Rng rng{0x9e3779b9u ^ (std::uint32_t{data[1]} * 0x01000193u)};
  std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  const bool polite = !(data[0] & 0x40);

  SmtpSession s(options, "192.0.2.7:41000");
  Checker check(s, options);
  SmtpTime now = SmtpTime{} + 24h;

  // The caller's side of the contract: answer what the engine waits for, fire the
  // timer when its deadline passes, sometimes make calls it does not expect.
  auto events = [&](bool force) {
    if (s.phase() == SmtpSession::Phase::awaiting_outcome && (force || rng.next() % 4 != 0)) {
      auto acts = s.complete_message(outcome_from(rng.next()), now);
      check.check_outcome(acts);
      check.absorb(acts);
    }
    // A polite client sends nothing during the handshake; an impolite one may.
    if (s.phase() == SmtpSession::Phase::tls_handshake && (force || polite || rng.next() % 4 != 0)) {
      auto acts = s.tls_established(now);
      REQUIRE(acts.empty());
    }
    if (rng.next() % 32 == 0) {  // spurious calls change nothing and answer nothing
      if (s.phase() != SmtpSession::Phase::awaiting_outcome) REQUIRE(s.complete_message({}, now).empty());
      if (s.phase() != SmtpSession::Phase::tls_handshake) REQUIRE(s.tls_established(now).empty());
    }
    // Mostly a quick client; now and then a long pause, or the timer firing.
    const std::uint32_t r = rng.next();
    now += std::chrono::milliseconds(r % 256 == 0 ? (r >> 8) % 400'000 : (r >> 8) % 500);
    if (auto due = s.deadline()) {
      if (rng.next() % 256 == 0) now = std::max(now, *due);
      if (now >= *due) check.absorb(s.on_timeout(now));
    }
  };

  check.absorb(s.start(now));
  while (!stream.empty()) {
    const std::uint32_t r = rng.next();
    std::size_t n = stream.size();
    switch (r % 4) {
      case 0: n = 1; break;
      case 1: n = 1 + (r >> 8) % 16; break;
      case 2: n = 1 + (r >> 8) % 700; break;
      default: break;
    }
    n = std::min(n, stream.size());
    // A client that waits for each reply (RFC 2920) ends a command feed at its line
    // end; flag 0x40 makes it impolite (the engine then rightly closes early).
    // In DATA it ends the feed after the final dot, as it waits for the 354 of any
    // DATA it pipelines behind it.
    if (polite && s.phase() == SmtpSession::Phase::command) {
      const auto lf = stream.substr(0, n).find('\n');
      if (lf != std::string_view::npos) n = lf + 1;
    } else if (polite && s.phase() == SmtpSession::Phase::data) {
      const auto end = stream.substr(0, n).find("\n.\r\n");
      if (end != std::string_view::npos) n = end + 4;
    }
    const SmtpSession::Phase before = s.phase();
    auto acts = s.feed(stream.substr(0, n), now);
    if (before == SmtpSession::Phase::tls_handshake || before == SmtpSession::Phase::closed) REQUIRE(acts.empty());
    if (before == SmtpSession::Phase::awaiting_outcome) REQUIRE(acts.empty() || s.closed());
    check.absorb(acts);
    stream.remove_prefix(n);
    events(false);
  }
  events(true);
  events(true);
  check.absorb(s.on_timeout(now + 24h));
  return 0;
}
