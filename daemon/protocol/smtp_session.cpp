// The SMTP/LMTP state machine. Input is framed on CRLF only; a bare LF or CR
// anywhere ends the session (SMTP smuggling), so DATA can end only at
// <CRLF>.<CRLF>. Every buffer is bounded by a named limit in SmtpOptions; nothing
// here reads a clock, a socket or a file.
#include "daemon/protocol/smtp_session.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "parser/text.hpp"

namespace tlsrpt::daemon {
namespace {

// feed() appends at most this much at a time, so one huge feed never sits in
// memory whole while it is a message body or a stream of commands.
constexpr std::size_t kFeedSlice = 16 * 1024;
// A SIZE= declaration reserves at most this much up front (it is only a claim).
constexpr std::size_t kMaxBodyReserve = 64 * 1024;

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Printable ASCII without space: what a HELO name or an address may hold here
// (no SMTPUTF8, so no 8-bit; no controls, so nothing can break a log or header).
bool is_token(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && c != '<' && c != '>';
  });
}

struct Path {
  std::string address;
  std::string_view params;
};

// RFC 5321 §4.1.2 Reverse-path / Forward-path after "FROM:" or "TO:".
std::optional<Path> parse_path(std::string_view s, bool allow_null) {
  s = trim(s, kWsp);
  std::string_view addr;
  std::string_view rest;
  if (!s.empty() && s.front() == '<') {
    const auto close = s.find('>');
    if (close == std::string_view::npos) return std::nullopt;
    addr = s.substr(1, close - 1);
    rest = s.substr(close + 1);
    if (!rest.empty() && rest.front() != ' ') return std::nullopt;
    // RFC 5321 §4.1.2 / appendix C: a source route ("@a,@b:") is accepted and ignored.
    if (!addr.empty() && addr.front() == '@') {
      const auto colon = addr.find(':');
      if (colon == std::string_view::npos) return std::nullopt;
      addr.remove_prefix(colon + 1);
      if (addr.empty()) return std::nullopt;
    }
  } else {
    // quirk(postfix-compatible): like Postfix with strict_rfc821_envelopes = no,
    // an address without angle brackets is accepted.
    const auto sp = s.find(' ');
    addr = s.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view{} : s.substr(sp);
    if (addr.empty()) return std::nullopt;
  }
  if (addr.empty() && !allow_null) return std::nullopt;
  if (!is_token(addr)) return std::nullopt;
  return Path{std::string(addr), trim(rest, kWsp)};
}

// Splits "SIZE=123 BODY=8BITMIME" into (KEY, value) pairs.
template <class F>
bool for_each_param(std::string_view params, F&& f) {
  while (!params.empty()) {
    const auto sp = params.find(' ');
    std::string_view p = params.substr(0, sp);
    params = sp == std::string_view::npos ? std::string_view{} : trim(params.substr(sp), kWsp);
    if (p.empty()) continue;
    const auto eq = p.find('=');
    const std::string key = ascii_upper(p.substr(0, eq));
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : p.substr(eq + 1);
    if (!f(key, value, eq != std::string_view::npos)) return false;
  }
  return true;
}

std::optional<std::size_t> parse_size(std::string_view v) {
  if (v.empty() || v.size() > 19) return std::nullopt;  // 19 digits always fit in 64 bits
  std::size_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n;
}

// Postfix smtpd_forbidden_commands = CONNECT GET POST regexp:{{/^[^A-Z]/ Thrash}}:
// a web client or a TLS hello on the SMTP port is not a mail client.
bool is_forbidden(std::string_view line, std::string_view verb) {
  if (!line.empty() && !is_alpha(static_cast<unsigned char>(line.front()))) return true;
  static constexpr std::array<std::string_view, 10> kHttpVerbs = {
      "CONNECT", "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "PRI"};
  for (auto v : kHttpVerbs)
    if (iequals(verb, v)) return true;
  return line.find(" HTTP/") != std::string_view::npos;
}

// RFC 2920 §3.1 (and RFC 3207 §4.2 for STARTTLS): these may only end a group.
bool must_end_group(std::string_view verb) {
  static constexpr std::array<std::string_view, 10> kLast = {"EHLO", "HELO", "LHLO", "DATA", "VRFY",
                                                             "EXPN", "TURN", "QUIT", "NOOP", "STARTTLS"};
  return std::any_of(kLast.begin(), kLast.end(), [&](std::string_view v) { return iequals(verb, v); });
}

bool is_unimplemented(std::string_view verb) {
  // Known SMTP extensions this server does not offer: BDAT (CHUNKING, RFC 3030),
  // AUTH (no submission here), EXPN, ETRN, TURN/ATRN, BURL.
  static constexpr std::array<std::string_view, 7> kKnown = {"BDAT", "AUTH", "EXPN", "ETRN",
                                                             "TURN", "ATRN", "BURL"};
  return std::any_of(kKnown.begin(), kKnown.end(), [&](std::string_view v) { return iequals(verb, v); });
}

}  // namespace

std::string_view to_token(CloseReason r) {
  switch (r) {
    case CloseReason::quit: return "quit";
    case CloseReason::timeout: return "timeout";
    case CloseReason::tls_timeout: return "tls_timeout";
    case CloseReason::too_many_errors: return "too_many_errors";
    case CloseReason::too_many_junk: return "too_many_junk";
    case CloseReason::forbidden_command: return "forbidden_command";
    case CloseReason::early_talker: return "early_talker";
    case CloseReason::bare_newline: return "bare_newline";
    case CloseReason::line_too_long: return "line_too_long";
    case CloseReason::pipelining: return "pipelining";
    case CloseReason::input_overflow: return "input_overflow";
    case CloseReason::busy: return "busy";
  }
  return "unknown";
}

std::string_view to_token(SmtpSession::Phase p) {
  switch (p) {
    case SmtpSession::Phase::greeting: return "greeting";
    case SmtpSession::Phase::command: return "command";
    case SmtpSession::Phase::data: return "data";
    case SmtpSession::Phase::awaiting_outcome: return "awaiting_outcome";
    case SmtpSession::Phase::tls_handshake: return "tls_handshake";
    case SmtpSession::Phase::closed: return "closed";
  }
  return "unknown";
}

SmtpSession::SmtpSession(std::shared_ptr<const SmtpOptions> options, std::string peer)
    : options_(std::move(options)), peer_(std::move(peer)) {}

SmtpSession::SmtpSession(SmtpOptions options, std::string peer)
    : SmtpSession(std::make_shared<const SmtpOptions>(std::move(options)), std::move(peer)) {}

SmtpSession::~SmtpSession() { release_budget(); }

void SmtpSession::release_budget() {
  if (held_ && options_->budget) options_->budget->give(held_);
  held_ = 0;
}

// --- entry points ----------------------------------------------------------------

SmtpActions SmtpSession::start(SmtpTime now) {
  SmtpActions out;
  if (started_ || phase_ != Phase::greeting) return out;
  started_ = true;
  started_at_ = now;
  last_command_at_ = now;
  if (options_->greet_delay.count() <= 0) {
    reply(out, now, 220, "", options_->hostname + (options_->lmtp ? " LMTP" : " ESMTP"));
    phase_ = Phase::command;
  }
  return out;
}

SmtpActions SmtpSession::feed(std::string_view bytes, SmtpTime now) {
  SmtpActions out;
  if (bytes.empty() || phase_ == Phase::closed) return out;
  if (phase_ == Phase::greeting) {
    // postscreen's pregreet test: an MTA waits for the 220 (RFC 5321 §3.1); a
    // client talking first is a bot blasting a script.
    reply(out, now, 554, "5.5.1", "protocol error: input before the greeting");
    close(out, CloseReason::early_talker);
    return out;
  }
  // RFC 3207 §4.2 / CVE-2011-0411: plaintext behind STARTTLS is never read.
  if (phase_ == Phase::tls_handshake) return out;

  while (!bytes.empty() && (phase_ == Phase::command || phase_ == Phase::data || phase_ == Phase::awaiting_outcome)) {
    if (pos_ > 0) {
      in_.erase(0, pos_);
      pos_ = 0;
    }
    std::size_t n = std::min(bytes.size(), kFeedSlice);
    if (phase_ == Phase::awaiting_outcome) {
      // Pipelined behind the end of DATA: kept for after the outcome, bounded.
      n = bytes.size();
      if (in_.size() + n > options_->max_pending_input) {
        reply(out, now, 421, "4.7.0", options_->hostname + " too much pipelined input");
        close(out, CloseReason::input_overflow);
        break;
      }
    }
    in_.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
    feed_rest_ = bytes.size();
    if (phase_ == Phase::data) {
      data_bytes_ += n;
      last_data_at_ = now;
    }
    if (phase_ != Phase::awaiting_outcome) pump(now, out);
  }
  feed_rest_ = 0;
  return out;
}

SmtpActions SmtpSession::complete_message(const MessageResult& result, SmtpTime now) {
  SmtpActions out;
  if (phase_ != Phase::awaiting_outcome) return out;
  if (daemon::reply_for(result.outcome).success()) {
    // Postfix counts errors and junk commands "without delivering mail".
    errors_ = 0;
    junk_ = 0;
  }
  release_budget();  // the message is stored (or not): its bytes are gone
  const SmtpReply base = reply_for(result);
  if (options_->lmtp) {
    // RFC 2033 §4.2: one reply per accepted recipient, in RCPT order.
    for (const auto& rcpt : envelope_.recipients)
      reply(out, now, base.code, base.enhanced, "<" + rcpt + "> " + base.lines.back());
  } else {
    reply(out, now, base);
  }
  if (base.code == 421) {
    // RFC 5321 §3.8: 421 closes the channel (the store is too busy: try later).
    close(out, CloseReason::busy);
    return out;
  }
  reset_transaction();
  phase_ = Phase::command;
  last_command_at_ = now;
  pump(now, out);
  return out;
}

SmtpActions SmtpSession::tls_established(SmtpTime now) {
  if (phase_ != Phase::tls_handshake) return {};
  // RFC 3207 §4.2: discard all knowledge obtained from the client before TLS; the
  // client must send EHLO again. Abuse counters stay: they are about the peer.
  tls_active_ = true;
  phase_ = Phase::command;
  helo_.clear();
  esmtp_ = false;
  pipelining_ok_ = false;
  reset_transaction();
  in_.clear();
  pos_ = 0;
  dropping_ = false;
  last_command_at_ = now;
  return {};
}

SmtpActions SmtpSession::on_timeout(SmtpTime now) {
  SmtpActions out;
  const auto due = deadline();
  if (!due || now < *due) return out;  // a stale timer: the deadline moved on
  switch (phase_) {
    case Phase::greeting:
      reply(out, now, 220, "", options_->hostname + (options_->lmtp ? " LMTP" : " ESMTP"));
      phase_ = Phase::command;
      last_command_at_ = now;
      break;
    case Phase::tls_handshake:
      close(out, CloseReason::tls_timeout);  // mid-handshake: no plaintext reply
      break;
    case Phase::command:
    case Phase::data:
      reply(out, now, 421, "4.4.2", options_->hostname + " timeout exceeded");
      close(out, CloseReason::timeout);
      break;
    case Phase::awaiting_outcome:
    case Phase::closed:
      break;
  }
  return out;
}

std::optional<SmtpTime> SmtpSession::deadline() const {
  const auto& o = *options_;
  auto capped = [&](std::optional<SmtpTime> t) -> std::optional<SmtpTime> {
    if (o.session_timeout.count() > 0) {
      const SmtpTime cap = started_at_ + o.session_timeout;
      if (!t || cap < *t) t = cap;
    }
    return t;
  };
  switch (phase_) {
    case Phase::greeting:
      if (!started_) return std::nullopt;
      return started_at_ + o.greet_delay;
    case Phase::command:
      return capped(o.command_timeout.count() > 0 ? std::optional(last_command_at_ + o.command_timeout)
                                                  : std::nullopt);
    case Phase::data: {
      std::optional<SmtpTime> t;
      if (o.command_timeout.count() > 0) t = last_data_at_ + o.command_timeout;
      if (o.data_min_rate > 0) {
        // The rate rule fails at the moment the bytes so far stop covering the
        // elapsed time at data_min_rate, but never within the grace period.
        constexpr std::size_t kBytesCap = std::size_t{1} << 40;  // keeps the product below 2^63
        const auto covered = std::chrono::milliseconds(
            static_cast<std::int64_t>(std::min(data_bytes_, kBytesCap) * 1000 / o.data_min_rate));
        const SmtpTime rate_due = data_started_at_ + std::max(o.data_rate_grace, covered);
        if (!t || rate_due < *t) t = rate_due;
      }
      return capped(t);
    }
    case Phase::tls_handshake:
      if (o.tls_handshake_timeout.count() <= 0) return std::nullopt;
      return tls_started_at_ + o.tls_handshake_timeout;
    case Phase::awaiting_outcome:
    case Phase::closed:
      return std::nullopt;
  }
  return std::nullopt;
}

// --- framing ---------------------------------------------------------------------

SmtpSession::Scan SmtpSession::scan_line(std::size_t partial_limit, std::string_view& line, bool& truncated) {
  const char* begin = in_.data() + pos_;
  const std::size_t size = in_.size() - pos_;
  const void* cr_at = std::memchr(begin, '\r', size);
  const std::size_t cr = cr_at ? static_cast<std::size_t>(static_cast<const char*>(cr_at) - begin) : size;
  // A LF before the first CR (or with no CR at all) is a bare LF.
  if (std::memchr(begin, '\n', cr) != nullptr) return Scan::bare_lf;
  if (cr == size) {
    if (size > partial_limit) {
      dropping_ = true;  // too long already: keep scanning for its end, drop its bytes
      dropped_ += size;
      pos_ = in_.size();
    }
    return Scan::more;
  }
  if (cr + 1 == size) {  // a CR at the end: its LF may be in the next read
    if (cr > partial_limit) {
      dropping_ = true;
      dropped_ += cr;
      pos_ += cr;
    }
    return Scan::more;
  }
  if (begin[cr + 1] != '\n') return Scan::bare_cr;
  line = std::string_view(begin, cr);
  truncated = dropping_;
  dropping_ = false;
  pos_ += cr + 2;
  return Scan::line;
}

void SmtpSession::pump(SmtpTime now, SmtpActions& out) {
  for (;;) {
    bool progressed = false;
    if (phase_ == Phase::command)
      progressed = step_command(now, out);
    else if (phase_ == Phase::data)
      progressed = step_data(now, out);
    if (!progressed) return;
  }
}

bool SmtpSession::step_command(SmtpTime now, SmtpActions& out) {
  const auto& o = *options_;
  std::string_view line;
  bool truncated = false;
  switch (scan_line(o.max_command_line, line, truncated)) {
    case Scan::more:
      if (dropping_ && o.long_line_limit > 0 && long_lines_ >= o.long_line_limit) {
        // A repeated over-long line: no need to wait for its end.
        ++long_lines_;
        reply(out, now, 500, "5.5.2", "line too long", true);
        close(out, CloseReason::line_too_long);
      } else if (!dropping_ && pos_ < in_.size()) {
        // A command starts with a letter; binary (a TLS ClientHello on the plain
        // port) is refused at its first byte instead of at the command timeout.
        const auto c = static_cast<unsigned char>(in_[pos_]);
        if (!is_alpha(c) && c != '\r' && c != '\0') {
          reply(out, now, 221, "2.7.0", "forbidden command, goodbye");
          close(out, CloseReason::forbidden_command);
        }
      }
      return false;
    case Scan::bare_lf:
      // Postfix smtpd_forbid_bare_newline (CVE-2023-51764): reply and disconnect.
      reply(out, now, 550, "5.5.2", "bare <LF> received");
      close(out, CloseReason::bare_newline);
      return false;
    case Scan::bare_cr:
      reply(out, now, 550, "5.5.2", "bare <CR> received");
      close(out, CloseReason::bare_newline);
      return false;
    case Scan::line:
      break;
  }
  dropped_ = 0;
  if (truncated || line.size() + 2 > o.max_command_line) {
    last_command_at_ = now;
    ++long_lines_;
    reply(out, now, 500, "5.5.2", "line too long", true);
    if (!closed() && o.long_line_limit > 0 && long_lines_ > o.long_line_limit)
      close(out, CloseReason::line_too_long);
    return !closed();
  }
  command(line, now, out);
  return true;
}

bool SmtpSession::step_data(SmtpTime now, SmtpActions& out) {
  const auto& o = *options_;
  std::string_view line;
  bool truncated = false;
  // +1: a text line may carry one stuffed dot beyond max_text_line.
  switch (scan_line(o.max_text_line + 1, line, truncated)) {
    case Scan::more:
      return false;
    case Scan::bare_lf:
      // Only <CRLF>.<CRLF> ends DATA; <LF>.<LF>, <LF>.<CR><LF> and friends are
      // how SMTP smuggling hides a second message (CVE-2023-51764/5/6).
      reply(out, now, 550, "5.5.2", "bare <LF> received");
      close(out, CloseReason::bare_newline);
      return false;
    case Scan::bare_cr:
      reply(out, now, 550, "5.5.2", "bare <CR> received");
      close(out, CloseReason::bare_newline);
      return false;
    case Scan::line:
      break;
  }
  // RFC 5321 §4.5.2: the end is a line holding one dot; a truncated line whose
  // kept tail is "." is the end of a long line, not the end of the data.
  if (!truncated && line == ".") {
    end_of_data(now, out);
    return true;
  }
  std::string_view content = line;
  // RFC 5321 §4.5.2: a leading dot followed by more text is removed.
  if (!truncated && !content.empty() && content.front() == '.') content.remove_prefix(1);
  if (truncated || content.size() + 2 > o.max_text_line) long_text_line_ = true;
  message_bytes_ += content.size() + 2 + (truncated ? dropped_ : 0);
  dropped_ = 0;
  if (message_bytes_ > o.max_message_bytes) too_big_ = true;
  if (!too_big_ && !long_text_line_ && !over_budget_ && o.budget) {
    if (o.budget->take(content.size() + 2)) {
      held_ += content.size() + 2;
    } else {
      over_budget_ = true;
    }
  }
  if (too_big_ || long_text_line_ || over_budget_) {
    if (body_.capacity() > 0) std::string().swap(body_);  // stop buffering: drain to the end
    release_budget();
  } else {
    body_.append(content);
    body_.append("\r\n");
  }
  return true;
}

void SmtpSession::end_of_data(SmtpTime now, SmtpActions& out) {
  const auto& o = *options_;
  phase_ = Phase::command;
  last_command_at_ = now;
  if (too_big_ || long_text_line_ || over_budget_) {
    const SmtpReply base =
        too_big_ ? reply_for(MessageResult{Outcome::too_large, {}})
        : long_text_line_
            ? reply_for(MessageResult{Outcome::malformed,
                                      "a line is longer than " + std::to_string(o.max_text_line) + " bytes"})
            // RFC 3463 4.3.1 "mail system full": the sender keeps the message and retries.
            : make_reply(452, "4.3.1", "insufficient system storage, try again later");
    if (o.lmtp) {
      for (const auto& rcpt : envelope_.recipients)
        reply(out, now, base.code, base.enhanced, "<" + rcpt + "> " + base.lines.back());
    } else {
      reply(out, now, base);
    }
    std::string().swap(body_);
    release_budget();
    reset_transaction();
    return;
  }
  DeliverMessage m;
  m.envelope = envelope_;
  m.envelope.peer = peer_;
  m.envelope.helo = helo_;
  m.envelope.protocol = protocol();
  m.envelope.tls = tls_active_;
  m.data = std::move(body_);
  body_.clear();
  out.emplace_back(std::move(m));
  phase_ = Phase::awaiting_outcome;
}

// --- commands --------------------------------------------------------------------

void SmtpSession::command(std::string_view line, SmtpTime now, SmtpActions& out) {
  const auto& o = *options_;
  last_command_at_ = now;
  // RFC 2920: input already here was sent before the client saw this reply.
  const bool sent_ahead = pending_input() > 0;
  const bool pipelining_ok = pipelining_ok_;

  const auto sp = line.find(' ');
  const std::string_view verb = line.substr(0, sp);
  const std::string_view args = sp == std::string_view::npos ? std::string_view{} : trim(line.substr(sp + 1), kWsp);

  if (line.find('\0') != std::string_view::npos) {
    reply(out, now, 500, "5.5.2", "NUL character in command", true);
  } else if (line.empty()) {
    reply(out, now, 500, "5.5.2", "syntax error", true);
  } else if (is_forbidden(line, verb)) {
    reply(out, now, 221, "2.7.0", "forbidden command, goodbye");
    close(out, CloseReason::forbidden_command);
    return;
  } else if (iequals(verb, "EHLO") || iequals(verb, "HELO")) {
    if (o.lmtp)
      reply(out, now, 500, "5.5.1", "this is LMTP, use LHLO", true);
    else
      cmd_hello(verb, args, now, out);
  } else if (iequals(verb, "LHLO") && o.lmtp) {
    cmd_hello(verb, args, now, out);
  } else if (iequals(verb, "MAIL")) {
    cmd_mail(args, now, out);
  } else if (iequals(verb, "RCPT")) {
    cmd_rcpt(args, now, out);
  } else if (iequals(verb, "DATA")) {
    cmd_data(args, now, out);
  } else if (iequals(verb, "RSET")) {
    if (junk(now, out)) return;
    if (!args.empty()) {
      reply(out, now, 501, "5.5.4", "syntax: RSET", true);
    } else {
      reset_transaction();
      reply(out, now, 250, "2.0.0", "ok");
    }
  } else if (iequals(verb, "NOOP")) {
    if (junk(now, out)) return;
    reply(out, now, 250, "2.0.0", "ok");
  } else if (iequals(verb, "VRFY")) {
    if (junk(now, out)) return;
    if (args.empty())
      reply(out, now, 501, "5.5.4", "syntax: VRFY address", true);
    else  // RFC 5321 §3.5.3: 252 when the server will not verify
      reply(out, now, 252, "2.0.0", "cannot verify the address, send the mail");
  } else if (iequals(verb, "HELP")) {
    if (junk(now, out)) return;
    reply(out, now, 214, "2.0.0",
          o.lmtp ? "commands: LHLO MAIL RCPT DATA RSET NOOP QUIT STARTTLS VRFY HELP"
                 : "commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT STARTTLS VRFY HELP");
  } else if (iequals(verb, "QUIT")) {
    reply(out, now, 221, "2.0.0", "bye");
    close(out, CloseReason::quit);
    return;
  } else if (iequals(verb, "STARTTLS")) {
    cmd_starttls(args, now, out);
  } else if (is_unimplemented(verb)) {
    reply(out, now, 502, "5.5.1", "command not implemented", true);
  } else {
    reply(out, now, 502, "5.5.2", "command not recognized", true);
  }

  // RFC 2920 §3.1: without PIPELINING (no EHLO/LHLO yet, or HELO) every command,
  // and with it the commands that must end a group, are answered before the
  // client may send more. Like Postfix's smtpd_forbid_unauth_pipelining, a client
  // that did not wait is told and disconnected: the bytes it sent ahead are never
  // read as commands or as a message (a message after a premature DATA included).
  if (sent_ahead && (phase_ == Phase::command || phase_ == Phase::data) &&
      (!pipelining_ok || must_end_group(verb))) {
    reply(out, now, 554, "5.5.0", "SMTP synchronization error: command sent before the reply");
    close(out, CloseReason::pipelining);
  }
}

void SmtpSession::cmd_hello(std::string_view verb, std::string_view args, SmtpTime now, SmtpActions& out) {
  const auto& o = *options_;
  const std::string name(args.substr(0, args.find(' ')));
  if (name.empty() || !is_token(name)) {
    reply(out, now, 501, "5.5.4", "syntax: " + ascii_upper(verb) + " hostname", true);
    return;
  }
  // RFC 5321 §4.1.4: EHLO/HELO anywhere resets the transaction.
  reset_transaction();
  helo_ = name;
  esmtp_ = !iequals(verb, "HELO");
  pipelining_ok_ = esmtp_;
  if (!esmtp_) {
    reply(out, now, 250, "", o.hostname);
    return;
  }
  std::vector<std::string> lines{o.hostname, "PIPELINING", "SIZE " + std::to_string(o.max_message_bytes)};
  if (o.tls_available && !tls_active_) lines.emplace_back("STARTTLS");
  lines.emplace_back("ENHANCEDSTATUSCODES");
  lines.emplace_back("8BITMIME");
  reply(out, now, make_multiline_reply(250, "", lines));
}

void SmtpSession::cmd_mail(std::string_view args, SmtpTime now, SmtpActions& out) {
  const auto& o = *options_;
  if (helo_.empty()) {
    reply(out, now, 503, "5.5.1", o.lmtp ? "send LHLO first" : "send HELO/EHLO first", true);
    return;
  }
  if (have_mail_) {
    reply(out, now, 503, "5.5.1", "nested MAIL command", true);
    return;
  }
  if (!istarts_with(args, "FROM:")) {
    reply(out, now, 501, "5.5.4", "syntax: MAIL FROM:<address>", true);
    return;
  }
  auto path = parse_path(args.substr(5), true);
  if (!path) {
    reply(out, now, 501, "5.1.7", "bad sender address syntax", true);
    return;
  }
  // Check every parameter before anything changes (check, then proceed).
  std::optional<std::size_t> size;
  bool eight_bit = false;
  std::optional<SmtpReply> refusal;
  for_each_param(path->params, [&](const std::string& key, std::string_view value, bool has_value) {
    if (key == "SIZE") {  // RFC 1870
      size = has_value ? parse_size(value) : std::nullopt;
      if (!size)
        refusal = make_reply(501, "5.5.4", "bad SIZE parameter");
      else if (*size > o.max_message_bytes)
        refusal = make_reply(552, "5.3.4", "message size exceeds fixed limit");
    } else if (key == "BODY") {  // RFC 6152
      if (iequals(value, "8BITMIME"))
        eight_bit = true;
      else if (iequals(value, "7BIT"))
        eight_bit = false;
      else
        refusal = make_reply(501, "5.5.4", "unsupported BODY parameter");
    } else {  // RFC 5321 §4.1.1.11: 555 for parameters not recognised
      refusal = make_reply(555, "5.5.4", "unsupported parameter");
    }
    return !refusal;
  });
  if (refusal) {
    reply(out, now, std::move(*refusal), true);
    return;
  }
  have_mail_ = true;
  envelope_.mail_from = std::move(path->address);
  envelope_.declared_size = size;
  envelope_.body_8bitmime = eight_bit;
  reply(out, now, 250, "2.1.0", "ok");
}

void SmtpSession::cmd_rcpt(std::string_view args, SmtpTime now, SmtpActions& out) {
  const auto& o = *options_;
  if (!have_mail_) {
    reply(out, now, 503, "5.5.1", "need MAIL command", true);
    return;
  }
  if (!istarts_with(args, "TO:")) {
    reply(out, now, 501, "5.5.4", "syntax: RCPT TO:<address>", true);
    return;
  }
  auto path = parse_path(args.substr(3), false);
  if (!path) {
    reply(out, now, 501, "5.1.3", "bad recipient address syntax", true);
    return;
  }
  if (!path->params.empty()) {  // no DSN (RFC 3461) here
    reply(out, now, 555, "5.5.4", "unsupported parameter", true);
    return;
  }
  ++rcpt_attempts_;
  if (envelope_.recipients.size() >= o.max_recipients) {
    // RFC 5321 §4.5.3.1.10: 452 for too many recipients; the client sends the rest later.
    reply(out, now, 452, "4.5.3", "too many recipients");
    return;
  }
  // Never relay: only the configured report mailboxes (any, when none are configured).
  const bool wanted = o.recipients.empty() ||
                      std::any_of(o.recipients.begin(), o.recipients.end(),
                                  [&](const std::string& r) { return iequals(r, path->address); });
  if (!wanted) {
    reply(out, now, 550, "5.1.1", "<" + path->address + ">: recipient not accepted here", true);
    return;
  }
  envelope_.recipients.push_back(std::move(path->address));
  reply(out, now, 250, "2.1.5", "ok");
}

void SmtpSession::cmd_data(std::string_view args, SmtpTime now, SmtpActions& out) {
  const auto& o = *options_;
  if (!args.empty()) {
    reply(out, now, 501, "5.5.4", "syntax: DATA", true);
    return;
  }
  if (!have_mail_) {
    reply(out, now, 503, "5.5.1", "need MAIL command", true);
    return;
  }
  if (envelope_.recipients.empty()) {
    if (rcpt_attempts_ > 0)
      reply(out, now, 554, "5.5.1", "no valid recipients", true);
    else
      reply(out, now, 503, "5.5.1", "need RCPT command", true);
    return;
  }
  reply(out, now, 354, "", "end data with <CR><LF>.<CR><LF>");
  phase_ = Phase::data;
  body_.clear();
  dropped_ = 0;
  body_.reserve(std::min(envelope_.declared_size.value_or(0), std::min(kMaxBodyReserve, o.max_message_bytes)));
  too_big_ = false;
  long_text_line_ = false;
  over_budget_ = false;
  message_bytes_ = 0;
  data_bytes_ = in_.size() - pos_;  // already read behind the DATA line
  data_started_at_ = now;
  last_data_at_ = now;
}

void SmtpSession::cmd_starttls(std::string_view args, SmtpTime now, SmtpActions& out) {
  const auto& o = *options_;
  if (!args.empty()) {
    reply(out, now, 501, "5.5.4", "syntax: STARTTLS", true);
  } else if (tls_active_) {
    reply(out, now, 503, "5.5.1", "TLS already active", true);
  } else if (!o.tls_available) {
    reply(out, now, 502, "5.5.1", "STARTTLS not available", true);
  } else if (have_mail_) {
    reply(out, now, 503, "5.5.1", "MAIL transaction in progress", true);
  } else {
    reply(out, now, 220, "2.0.0", "Ready to start TLS");
    if (closed()) return;
    // CVE-2011-0411 class: whatever followed STARTTLS was sent in plaintext and
    // must never be read as if it came over TLS.
    out.emplace_back(StartTls{pending_input()});
    in_.clear();
    pos_ = 0;
    dropping_ = false;
    phase_ = Phase::tls_handshake;
    tls_started_at_ = now;
  }
}

bool SmtpSession::junk(SmtpTime now, SmtpActions& out) {
  const auto& o = *options_;
  ++junk_;
  if (o.junk_command_limit == 0 || junk_ <= o.junk_command_limit) return false;
  reply(out, now, 421, "4.7.0", o.hostname + " too many junk commands");
  close(out, CloseReason::too_many_junk);
  return true;
}

// --- replies and state -----------------------------------------------------------

void SmtpSession::reply(SmtpActions& out, SmtpTime now, int code, std::string_view enhanced, std::string_view text,
                        bool is_error) {
  reply(out, now, make_reply(code, enhanced, text), is_error);
}

void SmtpSession::reply(SmtpActions& out, SmtpTime now, SmtpReply r, bool is_error) {
  const auto& o = *options_;
  if (phase_ == Phase::closed) return;
  if (is_error) ++errors_;
  auto delayed = [&](SmtpReply rr) {
    SendReply s{std::move(rr), std::nullopt};
    // Postfix smtpd_soft_error_limit: past it, every reply waits error_sleep
    // (cumulatively, as Postfix sleeps before each reply).
    if (o.soft_error_limit > 0 && errors_ >= o.soft_error_limit && o.error_sleep.count() > 0) {
      release_ = std::max(release_, now) + o.error_sleep;
      s.not_before = release_;
    }
    return s;
  };
  out.emplace_back(delayed(std::move(r)));
  if (is_error && o.hard_error_limit > 0 && errors_ >= o.hard_error_limit) {
    // Postfix smtpd_hard_error_limit: at the limit, 421 and disconnect.
    out.emplace_back(delayed(make_reply(421, "4.7.0", o.hostname + " too many errors")));
    close(out, CloseReason::too_many_errors);
  }
}

void SmtpSession::close(SmtpActions& out, CloseReason reason) {
  if (phase_ == Phase::closed) return;
  phase_ = Phase::closed;
  out.emplace_back(CloseConnection{reason});
  std::string().swap(in_);
  std::string().swap(body_);
  release_budget();
  pos_ = 0;
}

void SmtpSession::reset_transaction() {
  have_mail_ = false;
  rcpt_attempts_ = 0;
  envelope_ = SmtpEnvelope{};
}

std::string SmtpSession::protocol() const {
  // RFC 3848 "with" keywords.
  if (options_->lmtp) return tls_active_ ? "LMTPS" : "LMTP";
  if (!esmtp_) return "SMTP";
  return tls_active_ ? "ESMTPS" : "ESMTP";
}

}  // namespace tlsrpt::daemon
