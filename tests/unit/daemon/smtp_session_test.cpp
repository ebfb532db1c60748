// daemon/smtp_session.cpp: scripted SMTP/LMTP dialogues (client bytes -> expected
// replies and actions, OpenSMTPD smtpscript style), then the details a script
// cannot show: envelopes, unstuffed bodies, error-sleep times, deadlines.
#include "daemon/protocol/smtp_session.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tlsrpt::daemon {
namespace {

using namespace std::chrono_literals;

const SmtpTime kT0 = SmtpTime{} + 1000h;  // any fixed instant: the engine never reads a clock

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

// One action as a line of text; expectations are prefixes of these.
std::string render(const SmtpAction& a) {
  return std::visit(Overloaded{
                        [](const SendReply& r) { return r.reply.summary(); },
                        [](const StartTls& s) { return "<starttls discarded=" + std::to_string(s.discarded_bytes) + ">"; },
                        [](const DeliverMessage&) { return std::string("<deliver>"); },
                        [](const CloseConnection& c) { return "<close " + std::string(to_token(c.reason)) + ">"; },
                    },
                    a);
}

// --- the dialogue DSL -----------------------------------------------------------------

struct Step {
  enum class Kind { start, send, outcome, wait, tls_up };
  Kind kind = Kind::send;
  std::string bytes;
  MessageResult result;
  std::chrono::milliseconds advance{0};
  std::vector<std::string> expect;  // every action of this step, in order, as prefixes
};

Step Start(std::vector<std::string> expect = {"220 "}) { return {Step::Kind::start, {}, {}, {}, std::move(expect)}; }
Step C(std::string bytes, std::vector<std::string> expect) {
  return {Step::Kind::send, std::move(bytes), {}, {}, std::move(expect)};
}
Step Done(Outcome o, std::vector<std::string> expect) {
  return {Step::Kind::outcome, {}, MessageResult{o, {}}, {}, std::move(expect)};
}
// Advances the clock and fires the timer, as the caller does when it expires.
Step Wait(std::chrono::milliseconds d, std::vector<std::string> expect) {
  return {Step::Kind::wait, {}, {}, d, std::move(expect)};
}
Step TlsUp() { return {Step::Kind::tls_up, {}, {}, {}, {}}; }

struct Dialogue {
  std::string name;
  SmtpOptions options;
  std::vector<Step> steps;
  int messages = 0;  // DeliverMessage actions expected in the whole dialogue
  // Feeding the same bytes one at a time must give the same actions. Not so where
  // the outcome depends on what the client sent ahead (RFC 2920 checks, STARTTLS).
  bool chunk_invariant = true;
};

// gtest prints the dialogue's name, not its bytes, when a test fails.
void PrintTo(const Dialogue& d, std::ostream* os) { *os << d.name; }

struct Run {
  std::vector<std::vector<std::string>> actions;  // per step
  std::vector<DeliverMessage> messages;
  std::vector<SendReply> replies;
  std::string failures;  // invariant violations
};

// Plays a dialogue. byte_at_a_time feeds every send step one byte per feed().
Run play(const Dialogue& d, bool byte_at_a_time) {
  SmtpSession s(d.options, "192.0.2.1:40000");
  SmtpTime now = kT0;
  Run run;
  std::size_t data_replies = 0;
  bool closed = false;
  auto absorb = [&](SmtpActions acts, std::vector<std::string>& into) {
    for (auto& a : acts) {
      if (closed) run.failures += "action after close: " + render(a) + "\n";
      into.push_back(render(a));
      if (auto* r = std::get_if<SendReply>(&a)) {
        if (r->reply.code == 354) ++data_replies;
        // Every CR is followed by LF and every LF preceded by CR: one CRLF per line.
        const std::string wire = r->reply.wire();
        std::size_t crlf = 0;
        for (std::size_t i = 0; i < wire.size(); ++i) {
          if (wire[i] == '\r' && i + 1 < wire.size() && wire[i + 1] == '\n') ++crlf;
          if ((wire[i] == '\r' && (i + 1 == wire.size() || wire[i + 1] != '\n')) ||
              (wire[i] == '\n' && (i == 0 || wire[i - 1] != '\r')))
            run.failures += "stray CR/LF in reply: " + wire + "\n";
        }
        if (crlf != r->reply.lines.size() || !wire.ends_with("\r\n"))
          run.failures += "reply lines and CRLFs disagree: " + wire + "\n";
        run.replies.push_back(*r);
      } else if (auto* m = std::get_if<DeliverMessage>(&a)) {
        run.messages.push_back(*m);
        if (run.messages.size() > data_replies) run.failures += "more messages than 354 replies\n";
      } else if (std::holds_alternative<CloseConnection>(a)) {
        closed = true;
      }
    }
    if (closed != s.closed()) run.failures += "closed() disagrees with the actions\n";
  };
  for (const auto& step : d.steps) {
    std::vector<std::string> got;
    switch (step.kind) {
      case Step::Kind::start:
        absorb(s.start(now), got);
        break;
      case Step::Kind::send:
        if (byte_at_a_time) {
          for (char c : step.bytes) absorb(s.feed(std::string_view(&c, 1), now), got);
        } else {
          absorb(s.feed(step.bytes, now), got);
        }
        break;
      case Step::Kind::outcome:
        absorb(s.complete_message(step.result, now), got);
        break;
      case Step::Kind::wait:
        now += step.advance;
        absorb(s.on_timeout(now), got);
        break;
      case Step::Kind::tls_up:
        absorb(s.tls_established(now), got);
        break;
    }
    run.actions.push_back(std::move(got));
  }
  return run;
}

std::string show(const std::vector<std::string>& v) {
  std::string out = "[";
  for (const auto& s : v) out += "\n    " + s;
  return out + "]";
}

void check(const Dialogue& d, const Run& run, const char* mode) {
  EXPECT_EQ(run.failures, "") << mode;
  for (std::size_t i = 0; i < d.steps.size(); ++i) {
    const auto& want = d.steps[i].expect;
    const auto& got = run.actions[i];
    bool ok = want.size() == got.size();
    for (std::size_t j = 0; ok && j < want.size(); ++j) ok = got[j].starts_with(want[j]);
    EXPECT_TRUE(ok) << mode << ", step " << i << " (" << testing::PrintToString(d.steps[i].bytes.substr(0, 60))
                    << ")\n  want " << show(want) << "\n  got  " << show(got);
  }
  EXPECT_EQ(static_cast<int>(run.messages.size()), d.messages) << mode;
}

// --- building blocks ---------------------------------------------------------------

SmtpOptions opts(auto&& edit) {
  SmtpOptions o;
  o.hostname = "mx.example.com";
  o.recipients = {"tlsrpt@example.com"};
  edit(o);
  return o;
}
SmtpOptions opts() {
  return opts([](SmtpOptions&) {});
}

const std::string kMail = "MAIL FROM:<reporter@example.net>\r\n";
const std::string kRcpt = "RCPT TO:<tlsrpt@example.com>\r\n";
const std::string kBody = "Subject: report\r\n\r\nhello\r\n.\r\n";

// EHLO, MAIL, RCPT, DATA: the steps every transaction starts with.
std::vector<Step> open_transaction() {
  return {Start(), C("EHLO client.example.net\r\n", {"250 8BITMIME"}), C(kMail, {"250 2.1.0"}),
          C(kRcpt, {"250 2.1.5"}), C("DATA\r\n", {"354 "})};
}

std::vector<Step> operator+(std::vector<Step> a, const std::vector<Step>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<Dialogue> dialogues() {
  std::vector<Dialogue> all;
  auto add = [&](std::string name, SmtpOptions o, std::vector<Step> steps, int messages = 0, bool invariant = true) {
    all.push_back(Dialogue{std::move(name), std::move(o), std::move(steps), messages, invariant});
  };

  // --- ordinary sessions
  add("normal_session", opts(),
      open_transaction() + std::vector<Step>{C(kBody, {"<deliver>"}),
                                             Done(Outcome::stored, {"250 2.0.0 report stored"}),
                                             C("QUIT\r\n", {"221 2.0.0", "<close quit>"}),
                                             C("NOOP\r\n", {})},
      1);
  add("helo_session", opts(),
      {Start({"220 mx.example.com ESMTP"}), C("HELO client.example.net\r\n", {"250 mx.example.com"}),
       C(kMail, {"250 2.1.0"}), C(kRcpt, {"250 2.1.5"}), C("DATA\r\n", {"354 end data with <CR><LF>.<CR><LF>"}),
       C(kBody, {"<deliver>"}), Done(Outcome::stored, {"250 2.0.0"}), C("QUIT\r\n", {"221", "<close quit>"})},
      1);
  add("two_messages_one_session", opts(),
      open_transaction() + std::vector<Step>{C(kBody, {"<deliver>"}), Done(Outcome::duplicate, {"250 2.0.0 report already stored"}),
                                             C(kMail, {"250 2.1.0"}), C(kRcpt, {"250 2.1.5"}), C("DATA\r\n", {"354"}),
                                             C(kBody, {"<deliver>"}), Done(Outcome::stored, {"250 2.0.0"})},
      2);
  add("rset_clears_transaction", opts(),
      {Start(), C("EHLO c\r\n", {"250"}), C(kMail, {"250 2.1.0"}), C(kRcpt, {"250 2.1.5"}),
       C("RSET\r\n", {"250 2.0.0"}), C("DATA\r\n", {"503 5.5.1 need MAIL command"}), C(kMail, {"250 2.1.0"})});
  add("ehlo_resets_transaction", opts(),
      {Start(), C("EHLO c\r\n", {"250"}), C(kMail, {"250 2.1.0"}), C("EHLO c\r\n", {"250"}),
       C(kRcpt, {"503 5.5.1 need MAIL command"})});
  add("quit_then_nothing", opts(),
      {Start(), C("QUIT\r\nNOOP\r\n", {"221 2.0.0 bye", "<close quit>"}), C("NOOP\r\n", {})});
  add("vrfy_help_noop", opts(),
      {Start(), C("EHLO c\r\n", {"250"}), C("VRFY tlsrpt\r\n", {"252 2.0.0"}), C("VRFY\r\n", {"501 5.5.4"}),
       C("HELP\r\n", {"214 2.0.0"}), C("NOOP whatever\r\n", {"250 2.0.0 ok"})});
  add("lower_case_commands", opts(),
      {Start(), C("ehlo c\r\n", {"250"}), C("mail from:<a@b.example>\r\n", {"250 2.1.0"}),
       C("rcpt to:<tlsrpt@example.com>\r\n", {"250 2.1.5"}), C("data\r\n", {"354"}), C(kBody, {"<deliver>"})},
      1);

  // --- sequence and syntax errors
  add("sequence_errors", opts(),
      {Start(), C(kMail, {"503 5.5.1 send HELO/EHLO first"}), C(kRcpt, {"503 5.5.1 need MAIL command"}),
       C("DATA\r\n", {"503 5.5.1 need MAIL command"}), C("EHLO\r\n", {"501 5.5.4 syntax: EHLO hostname"}),
       C("EHLO c\r\n", {"250"}), C(kMail, {"250 2.1.0"}), C(kMail, {"503 5.5.1 nested MAIL command"}),
       C("DATA\r\n", {"503 5.5.1 need RCPT command"}), C("DATA now\r\n", {"501 5.5.4"}),
       C("RSET\r\n", {"250"}), C("MAIL TO:<a@b>\r\n", {"501 5.5.4 syntax: MAIL FROM:<address>"})});
  add("mail_parameters", opts(),
      {Start(), C("EHLO c\r\n", {"250"}), C("MAIL FROM:<a@b> BODY=BINARYMIME\r\n", {"501 5.5.4 unsupported BODY"}),
       C("MAIL FROM:<a@b> SIZE=12k\r\n", {"501 5.5.4 bad SIZE"}), C("MAIL FROM:<a@b> SIZE\r\n", {"501 5.5.4 bad SIZE"}),
       C("MAIL FROM:<a@b> SMTPUTF8\r\n", {"555 5.5.4 unsupported parameter"}),
       C("MAIL FROM:<a b@c>\r\n", {"501 5.1.7"}), C("MAIL FROM:<a@b\r\n", {"501 5.1.7"}),
       C("MAIL FROM:<@relay.example:a@b.example> BODY=8BITMIME SIZE=100\r\n", {"250 2.1.0"}),
       C("RCPT TO:<tlsrpt@example.com> NOTIFY=NEVER\r\n", {"555 5.5.4"}), C("RCPT TO:<>\r\n", {"501 5.1.3"}),
       C("RCPT TO:\r\n", {"501 5.1.3"}), C("RCPT TO:tlsrpt@example.com\r\n", {"250 2.1.5"})});
  add("null_sender_accepted", opts(),
      {Start(), C("EHLO c\r\n", {"250"}), C("MAIL FROM:<>\r\n", {"250 2.1.0"}), C(kRcpt, {"250 2.1.5"})});
  add("unknown_and_unimplemented", opts(),
      {Start(), C("EHLO c\r\n", {"250"}), C("XYZZY\r\n", {"502 5.5.2 command not recognized"}),
       C("BDAT 10 LAST\r\n", {"502 5.5.1 command not implemented"}), C("AUTH PLAIN\r\n", {"502 5.5.1"}),
       C("EXPN list\r\n", {"502 5.5.1"}), C("LHLO c\r\n", {"502 5.5.2"}), C("\r\n", {"500 5.5.2 syntax error"})});
  add("nul_in_command", opts(),
      {Start(), C(std::string("NO\0OP\r\n", 7), {"500 5.5.2 NUL character"}),
       C(std::string("\0\r\n", 3), {"500 5.5.2 NUL character"}), C("NOOP\r\n", {"250"})});

  // --- pipelining (RFC 2920)
  add("pipelined_mail_rcpt_data", opts(),
      {Start(), C("EHLO c\r\n", {"250"}),
       C(kMail + kRcpt + "RCPT TO:<nobody@example.org>\r\nDATA\r\n",
         {"250 2.1.0", "250 2.1.5", "550 5.1.1 <nobody@example.org>", "354"}),
       C(kBody, {"<deliver>"}), Done(Outcome::stored, {"250 2.0.0"})},
      1);
  add("pipelined_behind_end_of_data", opts(),
      open_transaction() + std::vector<Step>{C("Subject: a\r\n\r\nx\r\n.\r\n" + kMail + kRcpt + "DATA\r\n", {"<deliver>"}),
                                             Done(Outcome::stored, {"250 2.0.0", "250 2.1.0", "250 2.1.5", "354"}),
                                             C(kBody + "QUIT\r\n", {"<deliver>"}),
                                             Done(Outcome::stored, {"250 2.0.0", "221 2.0.0", "<close quit>"})},
      2);
  add("pipelining_before_ehlo", opts(),
      {Start(), C("NOOP\r\nNOOP\r\n", {"250 2.0.0", "554 5.5.0", "<close pipelining>"})}, 0, false);
  add("pipelining_after_helo", opts(),
      {Start(), C("HELO c\r\n", {"250"}), C(kMail + kRcpt, {"250 2.1.0", "554 5.5.0", "<close pipelining>"})}, 0,
      false);
  add("pipelining_behind_ehlo", opts(),
      {Start(), C("EHLO c\r\n" + kMail, {"250", "554 5.5.0", "<close pipelining>"})}, 0, false);
  add("message_sent_with_data_command", opts(),
      {Start(), C("EHLO c\r\n", {"250"}), C(kMail + kRcpt + "DATA\r\n" + kBody,
                                            {"250 2.1.0", "250 2.1.5", "354", "554 5.5.0", "<close pipelining>"})},
      0, false);
  add("message_pipelined_behind_refused_data", opts(),
      {Start(), C("EHLO c\r\n", {"250"}),
       C(kMail + "DATA\r\n" + kBody, {"250 2.1.0", "503 5.5.1 need RCPT", "554 5.5.0", "<close pipelining>"})},
      0, false);

  // --- recipients: never relay, at most max_recipients
  add("recipient_filtering", opts(),
      {Start(), C("EHLO c\r\n", {"250"}), C(kMail, {"250"}), C("RCPT TO:<tlsrpt@example.org>\r\n", {"550 5.1.1"}),
       C("RCPT TO:<other@example.com>\r\n", {"550 5.1.1 <other@example.com>: recipient not accepted here"}),
       C("RCPT TO:<tlsrpt@example.com.evil.example>\r\n", {"550 5.1.1"}),
       C("RCPT TO:<tlsrpt@example.com@evil.example>\r\n", {"550 5.1.1"}),
       C("DATA\r\n", {"554 5.5.1 no valid recipients"}), C("RSET\r\n", {"250"}), C(kMail, {"250"}),
       C("RCPT TO:<TLSRPT@Example.COM>\r\n", {"250 2.1.5"})});
  add("any_recipient_when_none_configured", opts([](SmtpOptions& o) { o.recipients.clear(); }),
      {Start(), C("EHLO c\r\n", {"250"}), C(kMail, {"250"}), C("RCPT TO:<anyone@anywhere.example>\r\n", {"250 2.1.5"}),
       C("RCPT TO:<postmaster>\r\n", {"250 2.1.5"})});
  {
    std::vector<Step> s{Start(), C("EHLO c\r\n", {"250"}), C(kMail, {"250"})};
    for (int i = 0; i < 10; ++i) s.push_back(C(kRcpt, {"250 2.1.5"}));
    s.push_back(C(kRcpt, {"452 4.5.3 too many recipients"}));
    s.push_back(C("DATA\r\n", {"354"}));
    s.push_back(C(kBody, {"<deliver>"}));
    add("recipient_limit_10", opts(), s, 1);
  }

  // --- DATA: dot-stuffing and SMTP smuggling (CVE-2023-51764/5/6)
  const std::string second = "MAIL FROM:<evil@example.org>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\n"
                             "Subject: smuggled\r\n\r\nsecond\r\n.\r\n";
  for (const auto& [name, fake_end, reply] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"lf_dot_lf", "\n.\n", "550 5.5.2 bare <LF> received"},
           {"cr_dot_cr", "\r.\r", "550 5.5.2 bare <CR> received"},
           {"lf_dot_crlf", "\n.\r\n", "550 5.5.2 bare <LF> received"},
           {"crlf_dot_lf", "\r\n.\n", "550 5.5.2 bare <LF> received"},
           {"lf_dot_cr", "\n.\r", "550 5.5.2 bare <LF> received"},
           {"crlf_dot_cr", "\r\n.\r", "550 5.5.2 bare <CR> received"},
           {"crlf_dot_crcrlf", "\r\n.\r\r\n", "550 5.5.2 bare <CR> received"},
           {"cr_crlf_dot_crlf", "\r\r\n.\r\n", "550 5.5.2 bare <CR> received"},
       }) {
    add("smuggling_" + name, opts(),
        open_transaction() + std::vector<Step>{C("Subject: first\r\n\r\nfirst" + fake_end + second,
                                                 {reply, "<close bare_newline>"}),
                                               C("QUIT\r\n", {})},
        0);
  }
  // Variants that are valid CRLF text: the fake end is message content, so the
  // "second message" travels inside the one real message.
  add("smuggling_stuffed_dot_is_content", opts(),
      open_transaction() +
          std::vector<Step>{C("Subject: first\r\n\r\nfirst\r\n..\r\n" + second, {"<deliver>"}),
                            Done(Outcome::stored, {"250 2.0.0"}), C("QUIT\r\n", {"221", "<close quit>"})},
      1);
  add("smuggling_dot_space_is_content", opts(),
      open_transaction() + std::vector<Step>{C("Subject: first\r\n\r\nfirst\r\n. \r\n" + second, {"<deliver>"})}, 1);
  add("bare_lf_in_data", opts(),
      open_transaction() + std::vector<Step>{C("Subject: x\nbody\r\n.\r\n", {"550 5.5.2 bare <LF>", "<close bare_newline>"})});
  add("bare_lf_command", opts(), {Start(), C("NOOP\n", {"550 5.5.2 bare <LF> received", "<close bare_newline>"})});
  add("bare_lf_inside_command", opts(),
      {Start(), C("EHLO c\r\n", {"250"}), C("NOOP\nQUIT\r\n", {"550 5.5.2 bare <LF>", "<close bare_newline>"})});
  add("bare_cr_command", opts(), {Start(), C("NO\rOP\r\n", {"550 5.5.2 bare <CR> received", "<close bare_newline>"})});
  add("crlf_split_across_feeds", opts(),
      {Start(), C("EHLO c\r\n", {"250"}), C("RSET\r", {}), C("\nRSET\r", {"250"}), C("\n", {"250"})});

  // --- STARTTLS (RFC 3207) and the buffer injection (CVE-2011-0411 class)
  const auto tls = opts([](SmtpOptions& o) { o.tls_available = true; });
  add("starttls_injection_discarded", tls,
      {Start(), C("EHLO c\r\n", {"250 8BITMIME"}),
       C("STARTTLS\r\nRSET\r\n", {"220 2.0.0 Ready to start TLS", "<starttls discarded=6>"}),
       C("NOOP\r\n", {}),  // plaintext before the handshake is done: never read
       TlsUp(), C(kMail, {"503 5.5.1 send HELO/EHLO first"}), C("EHLO c\r\n", {"250"}), C(kMail, {"250 2.1.0"}),
       C(kRcpt, {"250 2.1.5"}), C("DATA\r\n", {"354"}), C(kBody, {"<deliver>"}),
       C("STARTTLS\r\n", {}), Done(Outcome::stored, {"250 2.0.0", "503 5.5.1 TLS already active"}),
       C("STARTTLS\r\n", {"503 5.5.1 TLS already active"})},
      1, false);
  add("starttls_injected_transaction", tls,
      {Start(), C("EHLO c\r\n", {"250"}),
       C("STARTTLS\r\n" + kMail + kRcpt + "DATA\r\n" + kBody, {"220 2.0.0", "<starttls discarded="}), TlsUp(),
       C("EHLO c\r\n", {"250"}), C("DATA\r\n", {"503 5.5.1 need MAIL command"})},
      0, false);
  add("starttls_refusals", tls,
      {Start(), C("EHLO c\r\n", {"250"}), C("STARTTLS now\r\n", {"501 5.5.4"}), C(kMail, {"250"}),
       C("STARTTLS\r\n", {"503 5.5.1 MAIL transaction in progress"}), C("RSET\r\n", {"250"}),
       C("STARTTLS\r\n", {"220 2.0.0", "<starttls discarded=0>"}), TlsUp()});
  add("starttls_not_offered", opts(),
      {Start(), C("EHLO c\r\n", {"250"}), C("STARTTLS\r\n", {"502 5.5.1 STARTTLS not available"})});
  add("starttls_handshake_timeout", tls,
      {Start(), C("EHLO c\r\n", {"250"}), C("STARTTLS\r\n", {"220 2.0.0", "<starttls"}), Wait(9s, {}),
       Wait(1s, {"<close tls_timeout>"})});

  // --- limits, at and just past their values
  add("command_line_512_ok_513_refused", opts(),
      {Start(), C("NOOP " + std::string(505, 'x') + "\r\n", {"250 2.0.0"}),
       C("NOOP " + std::string(506, 'x') + "\r\n", {"500 5.5.2 line too long"}), C("NOOP\r\n", {"250"}),
       C("NOOP " + std::string(506, 'x') + "\r\n", {"500 5.5.2 line too long", "<close line_too_long>"})});
  add("command_line_10k_then_repeat_closes_at_once", opts(),
      {Start(), C("NOOP " + std::string(10240, 'x') + "\r\n", {"500 5.5.2 line too long"}),
       C("EHLO " + std::string(10240, 'x'), {"500 5.5.2 line too long", "<close line_too_long>"})});
  add("text_line_1000_ok", opts(),
      open_transaction() + std::vector<Step>{C(std::string(998, 'a') + "\r\n." + std::string(998, 'b') + "\r\n.\r\n",
                                               {"<deliver>"})},
      1);
  add("text_line_1001_refused", opts(),
      open_transaction() + std::vector<Step>{C(std::string(999, 'a') + "\r\n.\r\n", {"554 5.6.0 malformed report: a line is longer than 1000 bytes"}),
                                             C("NOOP\r\n", {"250"})});
  add("text_line_stuffed_1001_refused", opts(),
      open_transaction() + std::vector<Step>{C("." + std::string(999, 'b') + "\r\n.\r\n", {"554 5.6.0"})});
  // The engine drops the bytes of an over-long line; what it keeps of it may be
  // just "." and must not end DATA.
  add("long_text_line_ending_in_dot_is_not_the_end", opts(),
      open_transaction() + std::vector<Step>{C(std::string(5000, 'a'), {}), C(".\r\nmore\r\n.\r\n", {"554 5.6.0"})});
  const auto small = opts([](SmtpOptions& o) { o.max_message_bytes = 100; });
  add("message_size_at_limit", small,
      open_transaction() + std::vector<Step>{C(std::string(98, 'a') + "\r\n.\r\n", {"<deliver>"})}, 1);
  add("message_size_past_limit", small,
      open_transaction() + std::vector<Step>{C(std::string(99, 'a') + "\r\n.\r\n", {"552 5.3.4 report too large"}),
                                             C(kMail, {"250 2.1.0"})});
  // 52 + 48 unstuffed bytes: the stuffed dot does not count (101 bytes on the wire).
  add("message_size_counts_unstuffed_bytes", small,
      open_transaction() + std::vector<Step>{C(std::string(50, 'a') + "\r\n." + std::string(46, 'b') + "\r\n.\r\n",
                                               {"<deliver>"})},
      1);
  add("declared_size", small,
      {Start(), C("EHLO c\r\n", {"250"}), C("MAIL FROM:<a@b> SIZE=101\r\n", {"552 5.3.4 message size exceeds fixed limit"}),
       C("MAIL FROM:<a@b> SIZE=100\r\n", {"250 2.1.0"})});
  {
    std::vector<Step> s{Start(), C("EHLO c\r\n", {"250"})};
    for (int i = 0; i < 100; ++i) s.push_back(C(i % 2 ? "NOOP\r\n" : "RSET\r\n", {"250 2.0.0"}));
    s.push_back(C("NOOP\r\n", {"421 4.7.0 mx.example.com too many junk commands", "<close too_many_junk>"}));
    add("junk_limit_100", opts(), s);
  }
  {
    // A delivered message resets the junk count.
    std::vector<Step> s = open_transaction();
    for (int i = 0; i < 99; ++i) s.insert(s.begin() + 2, C("NOOP\r\n", {"250"}));
    s.push_back(C(kBody, {"<deliver>"}));
    s.push_back(Done(Outcome::stored, {"250"}));
    for (int i = 0; i < 100; ++i) s.push_back(C("VRFY x\r\n", {"252"}));
    s.push_back(C("HELP\r\n", {"421 4.7.0", "<close too_many_junk>"}));
    add("junk_count_resets_after_delivery", opts(), s, 1);
  }
  {
    std::vector<Step> s{Start(), C("EHLO c\r\n", {"250"})};
    for (int i = 1; i < 20; ++i) s.push_back(C("FOO\r\n", {"502 5.5.2"}));
    s.push_back(C("FOO\r\nNOOP\r\n", {"502 5.5.2", "421 4.7.0 mx.example.com too many errors", "<close too_many_errors>"}));
    s.push_back(C("NOOP\r\n", {}));
    add("hard_error_limit_20", opts(), s);
  }

  // --- abuse
  add("early_talker", opts(), {C("EHLO c\r\n", {"554 5.5.1", "<close early_talker>"}), Start({})});
  add("early_talker_during_greet_delay", opts([](SmtpOptions& o) { o.greet_delay = 2s; }),
      {Start({}), Wait(1s, {}), C("EHLO c\r\n", {"554 5.5.1", "<close early_talker>"})});
  add("greet_delay_then_normal", opts([](SmtpOptions& o) { o.greet_delay = 2s; }),
      {Start({}), Wait(2s, {"220 mx.example.com ESMTP"}), C("EHLO c\r\n", {"250"})});
  add("http_get", opts(),
      {Start(), C("GET / HTTP/1.1\r\nHost: mx.example.com\r\n\r\n", {"221 2.7.0", "<close forbidden_command>"})});
  add("http_post_lower_case", opts(), {Start(), C("post /tlsrpt HTTP/1.1\r\n", {"221 2.7.0", "<close forbidden"})});
  add("http_connect", opts(),
      {Start(), C("EHLO c\r\n", {"250"}), C("CONNECT mx.example.com:443 HTTP/1.1\r\n", {"221 2.7.0", "<close forbidden"})});
  add("http_any_verb", opts(), {Start(), C("BREW /pot HTTP/1.0\r\n", {"221 2.7.0", "<close forbidden"})});
  add("tls_hello_on_plain_port", opts(),
      {Start(), C(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), {"221 2.7.0", "<close forbidden"})});
  add("leading_space", opts(), {Start(), C(" NOOP\r\n", {"221 2.7.0", "<close forbidden"})});

  // --- timeouts (the caller fires on_timeout at deadline())
  add("command_timeout", opts(),
      {Start(), Wait(299s, {}), C("EHLO c\r\n", {"250"}), Wait(299s, {}),
       Wait(1s, {"421 4.4.2 mx.example.com timeout exceeded", "<close timeout>"}), C("NOOP\r\n", {})});
  add("trickled_command_times_out", opts(),
      {Start(), C("NO", {}), Wait(200s, {}), C("O", {}), Wait(100s, {"421 4.4.2", "<close timeout>"})});
  add("idle_after_data", opts(),
      open_transaction() + std::vector<Step>{Wait(9s, {}), Wait(1s, {"421 4.4.2", "<close timeout>"})});
  add("data_one_byte_per_10s", opts(),
      open_transaction() + std::vector<Step>{Wait(5s, {}), C("S", {}), Wait(5s, {"421 4.4.2", "<close timeout>"})});
  add("data_min_rate_met", opts(),
      open_transaction() + std::vector<Step>{C(std::string(998, 'a') + "\r\n", {}), Wait(9s, {}),
                                             C(std::string(19 * 1024, 'a').insert(998, "\r\n").substr(0, 19 * 1024), {}),
                                             Wait(10s, {}), Wait(1s, {"421 4.4.2", "<close timeout>"})});
  add("session_cap", opts([](SmtpOptions& o) { o.session_timeout = 10min; }),
      {Start(), Wait(200s, {}), C("EHLO c\r\n", {"250"}), Wait(200s, {}), C("NOOP\r\n", {"250"}), Wait(199s, {}),
       C("NOOP\r\n", {"250"}), Wait(1s, {"421 4.4.2", "<close timeout>"})});
  add("no_timeout_while_storing", opts(),
      open_transaction() + std::vector<Step>{C(kBody, {"<deliver>"}), Wait(3600s, {}),
                                             Done(Outcome::stored, {"250 2.0.0"})},
      1);

  // --- storage outcomes (the one table)
  for (const auto& [outcome, reply] : std::vector<std::pair<Outcome, std::string>>{
           {Outcome::stored, "250 2.0.0 report stored"},
           {Outcome::duplicate, "250 2.0.0 report already stored"},
           {Outcome::conflict, "250 2.0.0 report stored (conflicts with a stored report)"},
           {Outcome::held, "250 2.0.0 report kept but not counted"},
           {Outcome::no_policy_for_domain, "550 5.7.1 no policy for a domain served here"},
           {Outcome::storage_unavailable, "451 4.3.0"},
           {Outcome::not_a_report, "554 5.6.0 no TLS report found"},
           {Outcome::malformed, "554 5.6.0 malformed report"},
           {Outcome::too_large, "552 5.3.4 report too large"},
       }) {
    add("outcome_" + std::string(reply.substr(0, 3)) + "_" + std::to_string(static_cast<int>(outcome)), opts(),
        open_transaction() + std::vector<Step>{C(kBody, {"<deliver>"}), Done(outcome, {reply}),
                                               C(kMail, {"250 2.1.0"})},
        1);
  }
  // A store too busy to queue the report: 421 closes the channel (RFC 5321 §3.8).
  add("outcome_overloaded_closes", opts(),
      open_transaction() + std::vector<Step>{C(kBody, {"<deliver>"}),
                                             Done(Outcome::overloaded, {"421 4.3.2 too busy", "<close busy>"})},
      1);

  // --- LMTP (RFC 2033)
  const auto lmtp = opts([](SmtpOptions& o) {
    o.lmtp = true;
    o.recipients = {"tlsrpt@example.com", "tlsrpt@example.org"};
  });
  add("lmtp_per_recipient_replies", lmtp,
      {Start({"220 mx.example.com LMTP"}), C("EHLO c\r\n", {"500 5.5.1 this is LMTP, use LHLO"}),
       C("HELO c\r\n", {"500 5.5.1"}), C(kMail, {"503 5.5.1 send LHLO first"}), C("LHLO c\r\n", {"250 8BITMIME"}),
       C(kMail + kRcpt + "RCPT TO:<nobody@example.com>\r\nRCPT TO:<tlsrpt@example.org>\r\nDATA\r\n",
         {"250 2.1.0", "250 2.1.5", "550 5.1.1", "250 2.1.5", "354"}),
       C(kBody, {"<deliver>"}),
       Done(Outcome::stored,
               {"250 2.0.0 <tlsrpt@example.com> report stored", "250 2.0.0 <tlsrpt@example.org> report stored"}),
       C(kMail + kRcpt + "DATA\r\n", {"250", "250", "354"}), C(kBody, {"<deliver>"}),
       Done(Outcome::storage_unavailable, {"451 4.3.0 <tlsrpt@example.com>"}),
       C("QUIT\r\n", {"221", "<close quit>"})},
      2);
  add("lmtp_too_big_per_recipient", opts([](SmtpOptions& o) {
        o.lmtp = true;
        o.recipients.clear();
        o.max_message_bytes = 10;
      }),
      {Start(), C("LHLO c\r\n", {"250"}), C(kMail + "RCPT TO:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", {"250", "250", "250", "354"}),
       C("0123456789\r\n.\r\n", {"552 5.3.4 <a@x> report too large", "552 5.3.4 <b@x> report too large"})});

  // --- the input held while storing is bounded
  add("pending_input_overflow", opts(),
      open_transaction() + std::vector<Step>{C(kBody, {"<deliver>"}), C(std::string(60 * 1024, 'N'), {}),
                                             C(std::string(5 * 1024, 'N'), {"421 4.7.0", "<close input_overflow>"}),
                                             Done(Outcome::stored, {})},
      1, false);
  return all;
}

std::vector<Dialogue> chunk_invariant_dialogues() {
  auto all = dialogues();
  std::erase_if(all, [](const Dialogue& d) { return !d.chunk_invariant; });
  return all;
}

std::string dialogue_name(const testing::TestParamInfo<Dialogue>& i) { return i.param.name; }

class SmtpDialogue : public testing::TestWithParam<Dialogue> {};
TEST_P(SmtpDialogue, WholeFeeds) {
  const auto& d = GetParam();
  check(d, play(d, false), "whole feeds");
}
INSTANTIATE_TEST_SUITE_P(Scripts, SmtpDialogue, testing::ValuesIn(dialogues()), dialogue_name);

// The same bytes one per feed() give the same actions (chunking never matters
// except where the client sent ahead of a reply).
class SmtpDialogueBytewise : public testing::TestWithParam<Dialogue> {};
TEST_P(SmtpDialogueBytewise, OneByteFeeds) {
  const auto& d = GetParam();
  check(d, play(d, true), "one byte per feed");
}
INSTANTIATE_TEST_SUITE_P(Scripts, SmtpDialogueBytewise, testing::ValuesIn(chunk_invariant_dialogues()), dialogue_name);

// --- what a script cannot show ----------------------------------------------------------

// Runs open_transaction() and feeds `body`; returns the session and its actions.
struct Fixture {
  SmtpSession s;
  SmtpActions last;
  explicit Fixture(SmtpOptions o) : s(std::move(o), "[2001:db8::1]:2525") {}
  SmtpActions feed(std::string_view b, SmtpTime t = kT0) { return last = s.feed(b, t); }
};

template <class T>
std::vector<T> only(const SmtpActions& acts) {
  std::vector<T> out;
  for (const auto& a : acts)
    if (auto* p = std::get_if<T>(&a)) out.push_back(*p);
  return out;
}

TEST(SmtpSession, EhloAdvertisesTheExtensions) {
  Fixture f(opts([](SmtpOptions& o) { o.tls_available = true; }));
  f.s.start(kT0);
  auto r = only<SendReply>(f.feed("EHLO client.example.net\r\n"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].reply.wire(),
            "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10485760\r\n250-STARTTLS\r\n"
            "250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n");

  Fixture plain(opts());
  plain.s.start(kT0);
  r = only<SendReply>(plain.feed("EHLO c\r\n"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].reply.wire().find("STARTTLS"), std::string::npos);
  EXPECT_EQ(r[0].reply.wire().find("CHUNKING"), std::string::npos);
  EXPECT_EQ(r[0].reply.wire().find("AUTH"), std::string::npos);
}

TEST(SmtpSession, NoStartTlsAdvertisedOnceActive) {
  Fixture f(opts([](SmtpOptions& o) { o.tls_available = true; }));
  f.s.start(kT0);
  f.feed("EHLO c\r\n");
  f.feed("STARTTLS\r\n");
  EXPECT_EQ(f.s.phase(), SmtpSession::Phase::tls_handshake);
  EXPECT_FALSE(f.s.wants_input());
  f.s.tls_established(kT0);
  EXPECT_TRUE(f.s.tls_active());
  auto r = only<SendReply>(f.feed("EHLO c\r\n"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].reply.wire().find("STARTTLS"), std::string::npos);
  EXPECT_NE(r[0].reply.wire().find("PIPELINING"), std::string::npos);
}

TEST(SmtpSession, EnvelopeOfTheDeliveredMessage) {
  Fixture f(opts([](SmtpOptions& o) { o.tls_available = true; }));
  f.s.start(kT0);
  f.feed("EHLO c\r\n");
  f.feed("STARTTLS\r\n");
  f.s.tls_established(kT0);
  f.feed("EHLO sender.example.net\r\n");
  f.feed("MAIL FROM:<reports@example.net> SIZE=42 BODY=8BITMIME\r\n" + kRcpt + "RCPT TO:<TlsRpt@EXAMPLE.com>\r\nDATA\r\n");
  auto m = only<DeliverMessage>(f.feed(kBody));
  ASSERT_EQ(m.size(), 1u);
  const auto& e = m[0].envelope;
  EXPECT_EQ(e.peer, "[2001:db8::1]:2525");
  EXPECT_EQ(e.helo, "sender.example.net");
  EXPECT_EQ(e.protocol, "ESMTPS");
  EXPECT_EQ(e.mail_from, "reports@example.net");
  EXPECT_EQ(e.recipients, (std::vector<std::string>{"tlsrpt@example.com", "TlsRpt@EXAMPLE.com"}));
  EXPECT_TRUE(e.tls);
  EXPECT_TRUE(e.body_8bitmime);
  EXPECT_EQ(e.declared_size, std::optional<std::size_t>(42));
  EXPECT_EQ(m[0].data, "Subject: report\r\n\r\nhello\r\n");
  EXPECT_EQ(f.s.phase(), SmtpSession::Phase::awaiting_outcome);
  EXPECT_FALSE(f.s.wants_input());
}

TEST(SmtpSession, ProtocolNames) {
  for (const auto& [lmtp, hello, want] : std::vector<std::tuple<bool, std::string, std::string>>{
           {false, "HELO", "SMTP"}, {false, "EHLO", "ESMTP"}, {true, "LHLO", "LMTP"}}) {
    Fixture f(opts([&](SmtpOptions& o) { o.lmtp = lmtp; }));
    f.s.start(kT0);
    f.feed(hello + " c\r\n");
    f.feed(kMail);
    f.feed(kRcpt);
    f.feed("DATA\r\n");
    auto m = only<DeliverMessage>(f.feed(kBody));
    ASSERT_EQ(m.size(), 1u) << hello;
    EXPECT_EQ(m[0].envelope.protocol, want);
    EXPECT_FALSE(m[0].envelope.tls);
    EXPECT_EQ(m[0].envelope.mail_from, "reporter@example.net");
  }
}

TEST(SmtpSession, DotUnstuffing) {
  Fixture f(opts());
  f.s.start(kT0);
  f.feed("EHLO c\r\n");
  f.feed(kMail);
  f.feed(kRcpt);
  f.feed("DATA\r\n");
  // RFC 5321 §4.5.2: a leading dot is removed when more text follows it.
  auto m = only<DeliverMessage>(f.feed("..\r\n...\r\n.x\r\n..leading\r\nmid.dle.\r\n\r\n .\r\n.\r\n"));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].data, ".\r\n..\r\nx\r\n.leading\r\nmid.dle.\r\n\r\n .\r\n");
}

TEST(SmtpSession, EmptyMessage) {
  Fixture f(opts());
  f.s.start(kT0);
  f.feed("EHLO c\r\n" );
  f.feed(kMail);
  f.feed(kRcpt);
  f.feed("DATA\r\n");
  auto m = only<DeliverMessage>(f.feed(".\r\n"));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].data, "");
}

TEST(SmtpSession, SmuggledMessageStaysInsideTheFirst) {
  Fixture f(opts());
  f.s.start(kT0);
  f.feed("EHLO c\r\n");
  f.feed(kMail);
  f.feed(kRcpt);
  f.feed("DATA\r\n");
  auto m = only<DeliverMessage>(
      f.feed("Subject: one\r\n\r\nfirst\r\n..\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<tlsrpt@example.com>\r\n"
             "DATA\r\nSubject: two\r\n\r\nsecond\r\n.\r\n"));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].data,
            "Subject: one\r\n\r\nfirst\r\n.\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<tlsrpt@example.com>\r\n"
            "DATA\r\nSubject: two\r\n\r\nsecond\r\n");
}

TEST(SmtpSession, NulInDataIsContent) {
  Fixture f(opts());
  f.s.start(kT0);
  f.feed("EHLO c\r\n");
  f.feed(kMail);
  f.feed(kRcpt);
  f.feed("DATA\r\n");
  auto m = only<DeliverMessage>(f.feed(std::string("a\0b\r\n\0.\r\n.\r\n", 12)));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].data, std::string("a\0b\r\n\0.\r\n", 9));
}

TEST(SmtpSession, HugeMessageIsRefusedWithoutBuffering) {
  Fixture f(opts());
  f.s.start(kT0);
  f.feed("EHLO c\r\n");
  f.feed(kMail);
  f.feed(kRcpt);
  f.feed("DATA\r\n");
  // 50 MiB of 1000-byte lines, in one feed: the engine slices it and stops
  // buffering at 10 MiB.
  std::string line(998, 'x');
  line += "\r\n";
  std::string big;
  big.reserve(50 * 1024 * 1024 + 8);
  while (big.size() < 50 * 1024 * 1024) big += line;
  big += ".\r\n";
  auto acts = f.feed(big);
  auto r = only<SendReply>(acts);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].reply.summary(), "552 5.3.4 report too large");
  EXPECT_TRUE(only<DeliverMessage>(acts).empty());
  EXPECT_EQ(f.s.phase(), SmtpSession::Phase::command);
}

// Reliability scenario 20 (docs/guarantees.md#reliability-scenarios): the sessions of a
// listener share one byte budget, so
// many concurrent DATA commands cannot buffer max_message_bytes each.
TEST(SmtpSession, SharedBudgetBoundsWhatAllSessionsBuffer) {
  auto budget = std::make_shared<MessageBudget>(64 * 1024);
  auto o = opts([&](SmtpOptions& x) { x.budget = budget; });
  std::string line(98, 'x');
  line += "\r\n";
  std::string forty_k;
  while (forty_k.size() < 40 * 1024) forty_k += line;

  Fixture a(o), b(o);
  for (Fixture* f : {&a, &b}) {
    f->s.start(kT0);
    f->feed("EHLO c\r\n");
    f->feed(kMail);
    f->feed(kRcpt);
    f->feed("DATA\r\n");
  }
  EXPECT_TRUE(a.feed(forty_k).empty());
  EXPECT_EQ(budget->used(), forty_k.size());
  // The second session does not fit beside the first: drained, then 452 4.3.1.
  EXPECT_TRUE(b.feed(forty_k).empty());
  auto r = only<SendReply>(b.feed(".\r\n"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].reply.summary(), "452 4.3.1 insufficient system storage, try again later");
  EXPECT_TRUE(only<DeliverMessage>(b.last).empty());
  EXPECT_EQ(b.s.budget_held(), 0u);
  // The first is delivered; its bytes stay taken until the outcome is known.
  auto m = only<DeliverMessage>(a.feed(".\r\n"));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(budget->used(), forty_k.size());
  a.s.complete_message(MessageResult{Outcome::stored, {}}, kT0);
  EXPECT_EQ(budget->used(), 0u);
  // Now the second one fits: the next transaction on b is accepted.
  b.feed(kMail);
  b.feed(kRcpt);
  b.feed("DATA\r\n");
  EXPECT_EQ(only<DeliverMessage>(b.feed(forty_k + ".\r\n")).size(), 1u);
  EXPECT_EQ(budget->used(), forty_k.size());
}

TEST(SmtpSession, BudgetIsReturnedWhenTheSessionEnds) {
  auto budget = std::make_shared<MessageBudget>(1024 * 1024);
  {
    Fixture f(opts([&](SmtpOptions& x) { x.budget = budget; }));
    f.s.start(kT0);
    f.feed("EHLO c\r\n");
    f.feed(kMail);
    f.feed(kRcpt);
    f.feed("DATA\r\n");
    f.feed("Subject: x\r\n\r\nhalf a message\r\n");
    EXPECT_GT(budget->used(), 0u);
  }  // the client went away mid-DATA
  EXPECT_EQ(budget->used(), 0u);
  Fixture g(opts([&](SmtpOptions& x) { x.budget = budget; }));
  g.s.start(kT0);
  g.feed("EHLO c\r\n");
  g.feed(kMail);
  g.feed(kRcpt);
  g.feed("DATA\r\n");
  g.feed("Subject: x\r\n\r\n");
  g.s.on_timeout(kT0 + 1h);  // 421 and close
  EXPECT_TRUE(g.s.closed());
  EXPECT_EQ(budget->used(), 0u);
}

TEST(SmtpSession, MessageExactlyAtTheDefaultLimit) {
  Fixture f(opts());
  f.s.start(kT0);
  f.feed("EHLO c\r\n");
  f.feed(kMail);
  f.feed(kRcpt);
  f.feed("DATA\r\n");
  // 10 MiB = 10485 lines of 1000 bytes + one line of 760 bytes (758 + CRLF).
  const std::size_t limit = 10 * 1024 * 1024;
  std::string body;
  while (body.size() + 1000 <= limit) body += std::string(998, 'y') + "\r\n";
  body += std::string(limit - body.size() - 2, 'z') + "\r\n";
  ASSERT_EQ(body.size(), limit);
  auto m = only<DeliverMessage>(f.feed(body + ".\r\n"));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].data.size(), limit);

  Fixture g(opts());
  g.s.start(kT0);
  g.feed("EHLO c\r\n");
  g.feed(kMail);
  g.feed(kRcpt);
  g.feed("DATA\r\n");
  auto r = only<SendReply>(g.feed("a\r\n" + body + ".\r\n"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].reply.code, 552);
}

TEST(SmtpSession, SoftErrorLimitDelaysEveryReply) {
  Fixture f(opts());
  f.s.start(kT0);
  f.feed("EHLO c\r\n");
  for (int i = 1; i <= 9; ++i) {
    auto r = only<SendReply>(f.feed("FOO\r\n", kT0 + std::chrono::seconds(i)));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_FALSE(r[0].not_before) << "error " << i;
  }
  EXPECT_EQ(f.s.error_count(), 9u);
  // The 10th error, and every reply after it, waits error_sleep; replies in one
  // feed wait one after the other, as Postfix sleeps before each.
  const SmtpTime t = kT0 + 100s;
  auto r = only<SendReply>(f.feed("FOO\r\n", t));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].not_before, std::optional(t + 1s));
  // NOOP is not an error but still waits; a pipelining error would close, so these
  // arrive in separate feeds at the same instant.
  r = only<SendReply>(f.feed("NOOP\r\n", t));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].not_before, std::optional(t + 2s));
  EXPECT_EQ(r[0].reply.code, 250);
  r = only<SendReply>(f.feed("FOO\r\n", t + 10s));
  EXPECT_EQ(r[0].not_before, std::optional(t + 11s));
  EXPECT_EQ(f.s.error_count(), 11u);
}

TEST(SmtpSession, DeliveryResetsTheErrorCount) {
  Fixture f(opts());
  f.s.start(kT0);
  f.feed("EHLO c\r\n");
  for (int i = 0; i < 15; ++i) f.feed("FOO\r\n");
  EXPECT_EQ(f.s.error_count(), 15u);
  f.feed(kMail);
  f.feed(kRcpt);
  f.feed("DATA\r\n");
  f.feed(kBody);
  auto r = only<SendReply>(f.s.complete_message({Outcome::stored, {}}, kT0));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].not_before);
  EXPECT_EQ(f.s.error_count(), 0u);

  // A failed delivery does not.
  for (int i = 0; i < 3; ++i) f.feed("FOO\r\n");
  f.feed(kMail);
  f.feed(kRcpt);
  f.feed("DATA\r\n");
  f.feed(kBody);
  f.s.complete_message({Outcome::not_a_report, {}}, kT0);
  EXPECT_EQ(f.s.error_count(), 3u);
}

TEST(SmtpSession, Deadlines) {
  Fixture f(opts());
  EXPECT_FALSE(f.s.deadline());  // not started
  f.s.start(kT0);
  EXPECT_EQ(f.s.deadline(), std::optional(kT0 + 300s));
  f.feed("EHLO c\r\n", kT0 + 10s);
  EXPECT_EQ(f.s.deadline(), std::optional(kT0 + 310s));
  f.feed("RS", kT0 + 20s);  // a partial line does not extend it
  EXPECT_EQ(f.s.deadline(), std::optional(kT0 + 310s));
  // A stale timer does nothing.
  EXPECT_TRUE(f.s.on_timeout(kT0 + 300s).empty());
  f.feed("ET\r\n" + kMail + kRcpt + "DATA\r\n", kT0 + 30s);
  // DATA: 10 s grace, then 1 KiB/s.
  EXPECT_EQ(f.s.deadline(), std::optional(kT0 + 40s));
  std::string lines;
  for (int i = 0; i < 40; ++i) lines += std::string(510, 'a') + "\r\n";
  ASSERT_EQ(lines.size(), 20u * 1024);
  EXPECT_TRUE(f.feed(lines, kT0 + 31s).empty());  // 20 KiB covers 20 s from the start of DATA
  EXPECT_EQ(f.s.deadline(), std::optional(kT0 + 50s));
  ASSERT_EQ(only<DeliverMessage>(f.feed(".\r\n", kT0 + 32s)).size(), 1u);
  EXPECT_FALSE(f.s.deadline());  // storing: the caller's business
  f.s.complete_message({Outcome::stored, {}}, kT0 + 33s);
  EXPECT_EQ(f.s.deadline(), std::optional(kT0 + 333s));
  // The session cap wins once it is nearer.
  f.feed("NOOP\r\n", kT0 + 500s);
  EXPECT_EQ(f.s.deadline(), std::optional(kT0 + 600s));
}

TEST(SmtpSession, ZeroDisablesTimeoutsAndCounters) {
  Fixture f(opts([](SmtpOptions& o) {
    o.command_timeout = 0s;
    o.session_timeout = 0s;
    o.junk_command_limit = 0;
    o.hard_error_limit = 0;
    o.soft_error_limit = 0;
  }));
  f.s.start(kT0);
  EXPECT_FALSE(f.s.deadline());
  for (int i = 0; i < 150; ++i) {
    auto r = only<SendReply>(f.feed(i % 2 ? "NOOP\r\n" : "FOO\r\n"));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_FALSE(r[0].not_before);
  }
  EXPECT_FALSE(f.s.closed());
}

TEST(SmtpSession, StartTlsDiscardsTheRestOfTheFeed) {
  Fixture f(opts([](SmtpOptions& o) { o.tls_available = true; }));
  f.s.start(kT0);
  f.feed("EHLO c\r\n");
  // More than one feed slice behind STARTTLS: all of it is discarded and counted.
  const std::string injected(40000, 'R');
  auto acts = f.feed("STARTTLS\r\n" + injected);
  auto t = only<StartTls>(acts);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].discarded_bytes, injected.size());
  ASSERT_EQ(only<SendReply>(acts).size(), 1u);
  EXPECT_TRUE(f.s.tls_established(kT0).empty());
  // Nothing of the injection surfaces after the handshake.
  EXPECT_EQ(only<SendReply>(f.feed("NOOP\r\n"))[0].reply.code, 250);
}

TEST(SmtpSession, ReplyWireFormat) {
  EXPECT_EQ(make_reply(250, "2.0.0", "ok").wire(), "250 2.0.0 ok\r\n");
  EXPECT_EQ(make_reply(220, "", "mx ESMTP").wire(), "220 mx ESMTP\r\n");
  EXPECT_EQ(make_multiline_reply(451, "4.3.0", {"a", "b"}).wire(), "451-4.3.0 a\r\n451 4.3.0 b\r\n");
  // Report-derived text cannot start a second reply.
  auto r = reply_for({Outcome::malformed, "bad\r\n250 2.0.0 ok\x01\xff"});
  EXPECT_EQ(r.wire(), "554 5.6.0 malformed report: bad??250 2.0.0 ok??\r\n");
  EXPECT_LE(reply_for({Outcome::malformed, std::string(5000, 'x')}).lines[0].size(), kMaxReplyTextBytes);
}

TEST(SmtpSession, NothingAfterClose) {
  Fixture f(opts());
  f.s.start(kT0);
  f.feed("GET / HTTP/1.1\r\n");
  EXPECT_TRUE(f.s.closed());
  EXPECT_FALSE(f.s.deadline());
  EXPECT_TRUE(f.feed("EHLO c\r\n").empty());
  EXPECT_TRUE(f.s.on_timeout(kT0 + 1h).empty());
  EXPECT_TRUE(f.s.complete_message({}, kT0).empty());
  EXPECT_TRUE(f.s.tls_established(kT0).empty());
  EXPECT_TRUE(f.s.start(kT0).empty());
}

TEST(SmtpSession, SpuriousCallsAreIgnored) {
  Fixture f(opts());
  f.s.start(kT0);
  EXPECT_TRUE(f.s.complete_message({}, kT0).empty());  // no message pending
  EXPECT_TRUE(f.s.tls_established(kT0).empty());      // no STARTTLS pending
  EXPECT_TRUE(f.s.start(kT0).empty());                // already started
  EXPECT_EQ(only<SendReply>(f.feed("NOOP\r\n"))[0].reply.code, 250);
}

}  // namespace
}  // namespace tlsrpt::daemon
