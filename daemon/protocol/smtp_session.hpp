// The SMTP/LMTP protocol engine of the built-in mail listener, sans I/O: bytes go
// in, actions (replies, start TLS, deliver a message, close) come out, and time is
// a parameter. It must never touch a socket, a thread or a clock: the Asio wrapper
// does that and arms one timer at deadline(). Check-then-proceed like OpenSMTPD:
// each complete line is checked against the limits before any state changes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "daemon/protocol/smtp_reply.hpp"

namespace tlsrpt::daemon {

using SmtpClock = std::chrono::steady_clock;
using SmtpTime = SmtpClock::time_point;

// Message bytes that all sessions sharing it may hold at once: DATA being received
// and messages being stored. Without it, 256 sessions each filling a 10 MiB DATA
// hold 2.5 GiB (scenario 20 in docs/guarantees.md#reliability-scenarios).
// Thread-safe; the one shared object of the engine, and it only counts.
class MessageBudget {
 public:
  explicit MessageBudget(std::size_t limit) : limit_(limit) {}
  // Takes n bytes; false, taking nothing, when that would pass the limit.
  bool take(std::size_t n) {
    std::size_t cur = used_.load(std::memory_order_relaxed);
    do {
      if (n > limit_ || cur > limit_ - n) return false;
    } while (!used_.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed));
    return true;
  }
  void give(std::size_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }
  std::size_t used() const { return used_.load(std::memory_order_relaxed); }
  std::size_t limit() const { return limit_; }

 private:
  const std::size_t limit_;
  std::atomic<std::size_t> used_{0};
};

// Every limit by name; defaults follow Postfix (docs/guarantees.md#limits-and-deadlines)
// unless the comment says otherwise. A counter limit of 0 turns that check off.
struct SmtpOptions {
  std::string hostname = "localhost";  // in the greeting, the EHLO reply and 421s
  bool lmtp = false;                   // RFC 2033: LHLO, one reply per recipient after DATA
  bool tls_available = false;          // offer STARTTLS (until TLS is active)
  // Accepted recipients (local part and domain compared case-insensitively);
  // empty accepts any recipient. Nothing is ever relayed either way.
  std::vector<std::string> recipients;

  // RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF.
  std::size_t max_command_line = 512;
  // Too-long command lines tolerated (each answered 500 5.5.2); the next one closes.
  std::size_t long_line_limit = 1;
  // RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets including CRLF, not
  // counting a dot added for transparency. A longer line fails the message (554 5.6.0).
  std::size_t max_text_line = 1000;
  // Advertised as SIZE; the message (after dot-unstuffing, with its CRLFs) may be
  // exactly this long. Past it nothing more is buffered and DATA ends in 552 5.3.4.
  std::size_t max_message_bytes = 10 * 1024 * 1024;
  // Shared by every session of the daemon (null: no shared bound). A message that
  // cannot get its bytes from it is drained and answered 452 4.3.1, so the sender
  // retries later.
  std::shared_ptr<MessageBudget> budget;
  std::size_t max_recipients = 10;         // accepted RCPTs per transaction, then 452 4.5.3
  std::size_t junk_command_limit = 100;    // NOOP/RSET/VRFY/HELP per delivered mail, then 421
  std::size_t soft_error_limit = 10;       // from this error on, every reply waits error_sleep
  std::size_t hard_error_limit = 20;       // at this error, 421 4.7.0 and close
  std::chrono::milliseconds error_sleep{1000};
  // Input buffered while a message or STARTTLS is pending (a client that pipelines
  // after the end of DATA); a caller that stops reading while wants_input() is
  // false never reaches it.
  std::size_t max_pending_input = 64 * 1024;

  // Wait before the 220 greeting; input in that window is an early talker
  // (postscreen's pregreet test). 0 greets at start().
  std::chrono::milliseconds greet_delay{0};
  // RFC 5321 §4.5.3.2.7: the server waits 5 minutes for a command. Here the
  // whole command line must arrive in that time (a trickle does not extend it).
  std::chrono::milliseconds command_timeout{std::chrono::seconds(300)};
  // DATA must average data_min_rate bytes/s once data_rate_grace has passed
  // (docs/guarantees.md#limits-and-deadlines); 0 turns the rule off. command_timeout also
  // bounds every silence inside DATA.
  std::chrono::milliseconds data_rate_grace{std::chrono::seconds(10)};
  std::size_t data_min_rate = 1024;
  // The whole session, greeting to QUIT; 0 = no cap.
  std::chrono::milliseconds session_timeout{std::chrono::minutes(10)};
  // From the STARTTLS reply to tls_established().
  std::chrono::milliseconds tls_handshake_timeout{std::chrono::seconds(10)};
};

// The envelope of one message, as the client gave it.
struct SmtpEnvelope {
  std::string peer;                     // as passed to the constructor ("192.0.2.1:25", "unix")
  std::string helo;                     // the HELO/EHLO/LHLO argument
  std::string protocol;                 // RFC 3848 "with" keyword: SMTP, ESMTP, ESMTPS, LMTP, LMTPS
  std::string mail_from;                // the reverse-path without <>; "" for the null sender
  std::vector<std::string> recipients;  // accepted ones, in order, without <>
  bool tls = false;                     // the message arrived over TLS
  bool body_8bitmime = false;           // MAIL ... BODY=8BITMIME
  std::optional<std::size_t> declared_size;  // MAIL ... SIZE=n
};

// --- actions, in the order the caller must carry them out -----------------------

// Write the reply. With not_before set (the error sleep past the soft error
// limit), do not write it, nor anything after it, before that time.
struct SendReply {
  SmtpReply reply;
  std::optional<SmtpTime> not_before;
};

// Once the preceding replies ("220 2.0.0 Ready to start TLS") are written, start
// the TLS handshake as the server, then call tls_established(). Input already
// buffered behind STARTTLS has been thrown away (CVE-2011-0411 class): the caller
// must not keep any of its own read-ahead either.
struct StartTls {
  std::size_t discarded_bytes = 0;  // plaintext that followed STARTTLS, for the log
};

// Store the message, then call complete_message() with the outcome. Until then
// the engine answers nothing and wants no input.
struct DeliverMessage {
  SmtpEnvelope envelope;
  std::string data;  // the message: dot-unstuffed, CRLF line ends, without the final "."
};

enum class CloseReason {
  quit,                 // the client said QUIT
  timeout,              // command timeout, DATA minimum rate or session cap
  tls_timeout,          // the handshake after STARTTLS did not finish in time
  too_many_errors,      // hard_error_limit
  too_many_junk,        // junk_command_limit
  forbidden_command,    // CONNECT, GET, POST, HTTP, binary (a TLS hello on the plain port)
  early_talker,         // input before the greeting
  bare_newline,         // bare LF or bare CR (SMTP smuggling, CVE-2023-51764 class)
  line_too_long,        // a too-long command line after long_line_limit
  pipelining,           // commands sent ahead where RFC 2920 does not allow it
  input_overflow,       // max_pending_input
  busy,                 // a delivery was answered 421 (the store's queue is full)
};
std::string_view to_token(CloseReason r);

// Write every reply before it, then close the connection. Nothing follows it.
struct CloseConnection {
  CloseReason reason = CloseReason::quit;
};

using SmtpAction = std::variant<SendReply, StartTls, DeliverMessage, CloseConnection>;
using SmtpActions = std::vector<SmtpAction>;

// One connection. Not thread-safe; every call is cheap and never blocks.
class SmtpSession {
 public:
  enum class Phase {
    greeting,          // before the 220 (start() not called, or greet_delay running)
    command,           // reading commands
    data,              // reading the message after 354
    awaiting_outcome,  // DeliverMessage issued; waiting for complete_message()
    tls_handshake,     // StartTls issued; waiting for tls_established()
    closed,
  };

  SmtpSession(std::shared_ptr<const SmtpOptions> options, std::string peer);
  SmtpSession(SmtpOptions options, std::string peer);
  ~SmtpSession();
  SmtpSession(const SmtpSession&) = delete;
  SmtpSession& operator=(const SmtpSession&) = delete;

  // The connection is open: greets now (the 220 reply), or at now + greet_delay
  // through on_timeout(). Input fed before the greeting is an early talker.
  SmtpActions start(SmtpTime now);
  // Bytes read from the client (any chunking; plaintext or decrypted TLS).
  SmtpActions feed(std::string_view bytes, SmtpTime now);
  // The outcome of the last DeliverMessage; replies (one per recipient in LMTP),
  // then carries on with input that was pipelined behind the message.
  SmtpActions complete_message(const MessageResult& result, SmtpTime now);
  // The TLS handshake after StartTls succeeded: RFC 3207 §4.2 resets the session
  // (the client must EHLO again). On a failed handshake just drop the session.
  SmtpActions tls_established(SmtpTime now);
  // The timer armed at deadline() fired. Does nothing if the deadline moved on
  // meanwhile; otherwise greets (greet_delay) or answers 421 4.4.2 and closes.
  SmtpActions on_timeout(SmtpTime now);

  // When on_timeout() must be called next; nullopt while waiting on the caller
  // (a message outcome) or after close.
  std::optional<SmtpTime> deadline() const;
  // False while a message or a handshake is pending and after close: the caller
  // should stop reading the socket until it is true again.
  bool wants_input() const { return phase_ == Phase::greeting || phase_ == Phase::command || phase_ == Phase::data; }
  bool closed() const { return phase_ == Phase::closed; }
  // Receiving a message (after 354): a graceful stop lets it finish.
  bool in_data() const { return phase_ == Phase::data; }
  // A MAIL FROM was accepted and its transaction has not ended (message, RSET):
  // the server never evicts such a session to make room.
  bool in_transaction() const { return have_mail_; }
  Phase phase() const { return phase_; }
  bool tls_active() const { return tls_active_; }
  std::size_t error_count() const { return errors_; }
  std::size_t budget_held() const { return held_; }  // bytes taken from options().budget
  const SmtpOptions& options() const { return *options_; }

 private:
  enum class Scan { line, more, bare_lf, bare_cr };

  Scan scan_line(std::size_t partial_limit, std::string_view& line, bool& truncated);
  std::size_t pending_input() const { return in_.size() - pos_ + feed_rest_; }
  void pump(SmtpTime now, SmtpActions& out);
  bool step_command(SmtpTime now, SmtpActions& out);
  bool step_data(SmtpTime now, SmtpActions& out);
  void command(std::string_view line, SmtpTime now, SmtpActions& out);
  void end_of_data(SmtpTime now, SmtpActions& out);

  void cmd_hello(std::string_view verb, std::string_view args, SmtpTime now, SmtpActions& out);
  void cmd_mail(std::string_view args, SmtpTime now, SmtpActions& out);
  void cmd_rcpt(std::string_view args, SmtpTime now, SmtpActions& out);
  void cmd_data(std::string_view args, SmtpTime now, SmtpActions& out);
  void cmd_starttls(std::string_view args, SmtpTime now, SmtpActions& out);
  bool junk(SmtpTime now, SmtpActions& out);

  void reply(SmtpActions& out, SmtpTime now, SmtpReply r, bool is_error = false);
  void reply(SmtpActions& out, SmtpTime now, int code, std::string_view enhanced, std::string_view text,
             bool is_error = false);
  void close(SmtpActions& out, CloseReason reason);
  void reset_transaction();
  void release_budget();
  std::string protocol() const;

  std::shared_ptr<const SmtpOptions> options_;
  std::string peer_;
  Phase phase_ = Phase::greeting;

  // Input: in_[pos_..] is unconsumed; feed_rest_ counts bytes of the current
  // feed() not yet appended (they count as "sent ahead" for RFC 2920).
  std::string in_;
  std::size_t pos_ = 0;
  std::size_t feed_rest_ = 0;
  bool dropping_ = false;    // the current line passed its limit; its bytes are being dropped
  std::size_t dropped_ = 0;  // bytes dropped from the current line so far

  // Session (reset by STARTTLS where RFC 3207 says so).
  bool started_ = false;
  bool tls_active_ = false;
  bool pipelining_ok_ = false;  // EHLO/LHLO advertised PIPELINING in this session
  bool esmtp_ = false;
  std::string helo_;
  std::size_t errors_ = 0;
  std::size_t junk_ = 0;
  std::size_t long_lines_ = 0;
  SmtpTime release_{};  // when the last delayed reply may go out

  // Transaction.
  bool have_mail_ = false;
  std::size_t rcpt_attempts_ = 0;
  SmtpEnvelope envelope_;

  // DATA.
  std::string body_;
  bool too_big_ = false;
  bool long_text_line_ = false;
  bool over_budget_ = false;  // the shared budget could not hold this message
  std::size_t held_ = 0;      // bytes of body_ (or of the message being stored) taken from the budget
  std::size_t message_bytes_ = 0;  // unstuffed size so far, buffered or not
  std::size_t data_bytes_ = 0;  // raw bytes received since 354, for the minimum rate

  // Time.
  SmtpTime started_at_{};
  SmtpTime last_command_at_{};
  SmtpTime data_started_at_{};
  SmtpTime last_data_at_{};
  SmtpTime tls_started_at_{};
};

std::string_view to_token(SmtpSession::Phase p);

}  // namespace tlsrpt::daemon
