// SMTP/LMTP load client for bench_smtp.sh: delivers pre-generated report mails
// (gen_mails.py) to a server as fast as it acknowledges them and counts the 250s.
// Benchmark only, never linked into tlsrptd and never run by ctest; it prints
// numbers and decides nothing about the server's correctness (the script does).
//
// Modes (what real senders do):
//   smtp      a fresh TCP connection per mail: greeting, EHLO, MAIL+RCPT+DATA
//             (pipelined as Postfix does when PIPELINING is offered), the message,
//             QUIT, wait for 221 and the server's close
//   starttls  the same with STARTTLS and a full TLS handshake on every connection
//             (no session cache, no tickets: senders mail once a day and never resume)
//   lmtp      one connection (per --connections) for the whole run: LHLO once,
//             then transaction after transaction, as Postfix's lmtp client reuses it
// One epoll loop per thread, non-blocking sockets (and OpenSSL on them), so the
// client costs little CPU beside the server on a small machine. It stops starting
// mails at --duration and lets the ones in flight finish, so that every mail it
// sent has an answer: acked + temporary + permanent + lost = sent.
//
// Output: one line "BENCH key=value ..." on stdout (see print_result).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

enum class Mode { smtp, starttls, lmtp };

struct Options {
  Mode mode = Mode::smtp;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string unix_path;
  std::string mails;
  std::string recipient = "tlsrpt@bench.example";
  std::string helo = "mail-sender.bench.example";
  int connections = 32;
  int threads = 2;
  double duration = 10;
  double io_timeout = 60;  // one reply may take this long before the connection counts as lost
  std::size_t max_mails = 0;  // 0 = all in the file
  bool pipelining = true;
};

struct Mail {
  std::string_view sender;
  std::string_view data;  // dot-stuffed, CRLF, ends in CRLF
};

// What a reply is expected for, in order.
enum class Stage { greeting, ehlo, starttls, ehlo_tls, mail, rcpt, data, end_of_data, quit };

struct Stats {
  std::uint64_t mails_started = 0;  // transactions begun (a mail taken from the set)
  std::uint64_t sent = 0;           // messages sent in full (the final "." written)
  std::uint64_t acked = 0;          // 250 to the end of DATA
  std::uint64_t temporary = 0;      // 4xx to the end of DATA
  std::uint64_t permanent = 0;      // 5xx to the end of DATA
  std::uint64_t other_reply = 0;    // an unexpected reply anywhere else (the connection is dropped)
  std::uint64_t lost = 0;           // sent in full, then no answer (connection error or timeout)
  std::uint64_t connections = 0;    // connections opened
  std::uint64_t conn_errors = 0;    // connect/read/write/TLS failures and timeouts
  std::uint64_t tls_handshakes = 0;
  std::uint64_t tls_resumed = 0;
  std::string tls_version;
  std::vector<float> latency_ms;    // per acknowledged mail: start of its transaction (SMTP:
                                    // the connect) to the 250 after DATA
  int first_error_code = 0;
  std::string first_error;
};

struct Shared {
  const Options* opt = nullptr;
  std::vector<Mail> mails;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> exhausted{false};
  Clock::time_point start, stop_starting;
  SSL_CTX* tls = nullptr;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;

  const Mail* take() {
    std::size_t i = next.fetch_add(1);
    if (i >= mails.size()) {
      exhausted = true;
      return nullptr;
    }
    return &mails[i];
  }
};

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  bool connecting = false;
  bool handshaking = false;
  bool closing = false;  // QUIT answered or connection failing: wait for EOF / close
  std::string in;
  std::string out;
  std::size_t out_pos = 0;
  std::deque<Stage> expect;
  const Mail* mail = nullptr;
  bool mail_sent = false;
  bool offers_starttls = false, offers_pipelining = false;
  Clock::time_point mail_started, last_progress;
  bool done = false;  // nothing more to do on this slot
};

class Worker {
 public:
  Worker(Shared& sh, int nconns) : sh_(sh), opt_(*sh.opt), conns_(nconns) {}

  void run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    for (std::size_t i = 0; i < conns_.size(); ++i) open(i);
    std::vector<epoll_event> events(64);
    const auto hard_stop = sh_.stop_starting + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(opt_.io_timeout + 5));
    while (std::any_of(conns_.begin(), conns_.end(), [](const Conn& c) { return !c.done; })) {
      int n = reopen_.empty() ? epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 100) : 0;
      for (int k = 0; k < n; ++k) drive(events[k].data.u64, events[k].events);
      // Slots whose connection ended get the next one here, not from inside drive():
      // a server that refuses connections must not recurse.
      std::vector<std::size_t> slots;
      slots.swap(reopen_);
      for (std::size_t i : slots) open(i);
      auto now = Clock::now();
      if (now >= next_timeout_check_) {
        next_timeout_check_ = now + std::chrono::milliseconds(250);
        for (std::size_t i = 0; i < conns_.size(); ++i) {
          Conn& c = conns_[i];
          if (c.done || c.fd < 0) continue;
          if (now - c.last_progress > std::chrono::duration<double>(opt_.io_timeout)) fail(i, "timeout");
          else if (now > hard_stop) fail(i, "hard stop");
        }
      }
    }
    close(ep_);
  }

  Stats stats;

 private:
  Shared& sh_;
  const Options& opt_;
  std::vector<Conn> conns_;
  int ep_ = -1;
  Clock::time_point next_timeout_check_{};
  std::vector<std::size_t> reopen_;
  int consecutive_errors_ = 0;

  bool may_start() const { return Clock::now() < sh_.stop_starting && !sh_.exhausted; }

  // Opens a connection on slot i (or marks the slot done when the run is over).
  void open(std::size_t i) {
    Conn& c = conns_[i];
    c = Conn{};
    if (!may_start()) {
      c.done = true;
      return;
    }
    if (opt_.mode != Mode::lmtp) {
      // One mail per connection: take it now, so its latency includes the connect.
      c.mail = sh_.take();
      if (!c.mail) {
        c.done = true;
        return;
      }
      ++stats.mails_started;
      c.mail_started = Clock::now();
    }
    c.fd = socket(sh_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      std::perror("socket");
      std::exit(2);
    }
    if (sh_.addr.ss_family != AF_UNIX) {
      int one = 1;
      setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ++stats.connections;
    c.last_progress = Clock::now();
    int r = connect(c.fd, reinterpret_cast<const sockaddr*>(&sh_.addr), sh_.addr_len);
    if (r != 0 && errno != EINPROGRESS) {
      fail(i, std::string("connect: ") + std::strerror(errno));
      return;
    }
    c.connecting = r != 0;
    c.expect.push_back(Stage::greeting);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
    ev.data.u64 = i;
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    if (!c.connecting) drive(i, 0);
  }

  void teardown(Conn& c) {
    if (c.ssl) {
      SSL_free(c.ssl);
      c.ssl = nullptr;
    }
    if (c.fd >= 0) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
      c.fd = -1;
    }
  }

  // The connection failed or timed out: whatever was in flight is lost.
  void fail(std::size_t i, const std::string& why) {
    Conn& c = conns_[i];
    bool in_transaction = c.mail != nullptr;
    if (in_transaction && c.mail_sent) ++stats.lost;
    if (!c.closing || in_transaction) {
      ++stats.conn_errors;
      if (stats.first_error.empty()) stats.first_error = why;
    }
    teardown(c);
    c.mail = nullptr;
    // A server that is gone: stop instead of spinning on refused connections.
    if (++consecutive_errors_ > 1000) {
      c.done = true;
      return;
    }
    reopen_.push_back(i);
  }

  void finish(std::size_t i) {  // clean end of a connection: the next one, if time remains
    teardown(conns_[i]);
    conns_[i].mail = nullptr;
    consecutive_errors_ = 0;
    reopen_.push_back(i);
  }

  void send(Conn& c, std::string_view s) { c.out.append(s); }

  void begin_transaction(Conn& c) {
    std::string cmds;
    cmds.reserve(200);
    cmds += "MAIL FROM:<";
    cmds += c.mail->sender;
    cmds += "> SIZE=" + std::to_string(c.mail->data.size()) + "\r\n";
    if (opt_.pipelining && c.offers_pipelining) {
      cmds += "RCPT TO:<" + opt_.recipient + ">\r\nDATA\r\n";
      c.expect.insert(c.expect.end(), {Stage::mail, Stage::rcpt, Stage::data});
    } else {
      c.expect.push_back(Stage::mail);
    }
    send(c, cmds);
  }

  void quit(Conn& c) {
    send(c, "QUIT\r\n");
    c.expect.push_back(Stage::quit);
  }

  // A complete reply with `code` arrived for the front of c.expect.
  // Returns false when the connection was replaced (stop using c).
  bool on_reply(std::size_t i, int code, std::string_view text) {
    Conn& c = conns_[i];
    Stage st = c.expect.front();
    c.expect.pop_front();
    auto unexpected = [&]() {
      ++stats.other_reply;
      if (!stats.first_error_code) {
        stats.first_error_code = code;
        stats.first_error = std::string(text.substr(0, 200));
      }
      fail(i, "unexpected reply");
      return false;
    };
    switch (st) {
      case Stage::greeting:
        if (code != 220) return unexpected();
        send(c, std::string(opt_.mode == Mode::lmtp ? "LHLO " : "EHLO ") + opt_.helo + "\r\n");
        c.expect.push_back(Stage::ehlo);
        return true;
      case Stage::ehlo:
      case Stage::ehlo_tls: {
        if (code != 250) return unexpected();
        c.offers_starttls = text.find("STARTTLS") != std::string_view::npos;
        c.offers_pipelining = text.find("PIPELINING") != std::string_view::npos;
        if (opt_.mode == Mode::starttls && st == Stage::ehlo) {
          if (!c.offers_starttls) return unexpected();
          send(c, "STARTTLS\r\n");
          c.expect.push_back(Stage::starttls);
          return true;
        }
        if (opt_.mode == Mode::lmtp) return next_lmtp_mail(i);
        begin_transaction(c);
        return true;
      }
      case Stage::starttls:
        if (code != 220) return unexpected();
        // RFC 3207 §4.2: nothing of the plaintext session is kept.
        c.in.clear();
        c.ssl = SSL_new(sh_.tls);
        SSL_set_fd(c.ssl, c.fd);
        SSL_set_connect_state(c.ssl);
        c.handshaking = true;
        return true;
      case Stage::mail:
        if (code != 250) return unexpected();
        if (!(opt_.pipelining && c.offers_pipelining)) {
          send(c, "RCPT TO:<" + opt_.recipient + ">\r\n");
          c.expect.push_back(Stage::rcpt);
        }
        return true;
      case Stage::rcpt:
        if (code != 250) return unexpected();
        if (!(opt_.pipelining && c.offers_pipelining)) {
          send(c, "DATA\r\n");
          c.expect.push_back(Stage::data);
        }
        return true;
      case Stage::data:
        if (code != 354) return unexpected();
        c.out.reserve(c.out.size() + c.mail->data.size() + 3);
        send(c, c.mail->data);
        send(c, ".\r\n");
        c.mail_sent = true;
        ++stats.sent;
        c.expect.push_back(Stage::end_of_data);
        return true;
      case Stage::end_of_data:
        if (code / 100 == 2) {
          ++stats.acked;
          consecutive_errors_ = 0;
          stats.latency_ms.push_back(
              std::chrono::duration<float, std::milli>(Clock::now() - c.mail_started).count());
        } else {
          (code / 100 == 4 ? stats.temporary : stats.permanent) += 1;
          if (!stats.first_error_code) {
            stats.first_error_code = code;
            stats.first_error = std::string(text.substr(0, 200));
          }
        }
        c.mail = nullptr;
        c.mail_sent = false;
        if (opt_.mode == Mode::lmtp) return next_lmtp_mail(i);
        quit(c);
        return true;
      case Stage::quit:
        if (code != 221) return unexpected();
        c.closing = true;  // the server closes; read until EOF
        return true;
    }
    return true;
  }

  bool next_lmtp_mail(std::size_t i) {
    Conn& c = conns_[i];
    if (may_start()) {
      c.mail = sh_.take();
      if (c.mail) {
        ++stats.mails_started;
        c.mail_started = Clock::now();
        begin_transaction(c);
        return true;
      }
    }
    quit(c);
    return true;
  }

  // Parses one complete reply from c.in (RFC 5321 §4.2: "ddd-" continues, "ddd " ends).
  static bool take_reply(Conn& c, int& code, std::string& text) {
    std::size_t pos = 0;
    for (;;) {
      std::size_t eol = c.in.find("\r\n", pos);
      if (eol == std::string::npos) return false;
      std::string_view line(c.in.data() + pos, eol - pos);
      pos = eol + 2;
      if (line.size() < 3) continue;
      if (line.size() == 3 || line[3] == ' ') {
        code = std::atoi(std::string(line.substr(0, 3)).c_str());
        text.assign(c.in.data(), pos);
        c.in.erase(0, pos);
        return true;
      }
    }
  }

  enum class Io { ok, again, eof, error };

  Io do_read(Conn& c) {
    char buf[16384];
    if (c.ssl) {
      int n = SSL_read(c.ssl, buf, sizeof buf);
      if (n > 0) {
        c.in.append(buf, n);
        return Io::ok;
      }
      int e = SSL_get_error(c.ssl, n);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Io::again;
      if (e == SSL_ERROR_ZERO_RETURN) return Io::eof;
      if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        ERR_clear_error();
        return Io::eof;  // the server closed without close_notify
      }
      ERR_clear_error();
      return Io::error;
    }
    ssize_t n = ::read(c.fd, buf, sizeof buf);
    if (n > 0) {
      c.in.append(buf, n);
      return Io::ok;
    }
    if (n == 0) return Io::eof;
    if (errno == EAGAIN || errno == EINTR) return Io::again;
    if (errno == ECONNRESET && c.closing) return Io::eof;
    return Io::error;
  }

  Io do_write(Conn& c) {
    const char* p = c.out.data() + c.out_pos;
    std::size_t len = c.out.size() - c.out_pos;
    if (c.ssl) {
      int n = SSL_write(c.ssl, p, static_cast<int>(len));
      if (n > 0) {
        c.out_pos += n;
      } else {
        int e = SSL_get_error(c.ssl, n);
        ERR_clear_error();
        return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? Io::again : Io::error;
      }
    } else {
      ssize_t n = ::send(c.fd, p, len, MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EINTR ? Io::again : Io::error;
      c.out_pos += n;
    }
    if (c.out_pos == c.out.size()) {
      c.out.clear();
      c.out_pos = 0;
    }
    return Io::ok;
  }

  // Makes all the progress possible on slot i; with edge-triggered epoll it runs
  // every direction it waits on until EAGAIN.
  void drive(std::size_t i, std::uint32_t events) {
    Conn* c = &conns_[i];
    if (c->fd < 0) return;
    if (c->connecting) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err) return fail(i, std::string("connect: ") + std::strerror(err));
      c->connecting = false;
    }
    const int fd = c->fd;
    std::string text;
    for (;;) {
      c = &conns_[i];
      if (c->fd != fd) return;  // replaced meanwhile; the new one is driven by its events
      c->last_progress = Clock::now();
      if (c->handshaking) {
        int r = SSL_do_handshake(c->ssl);
        if (r == 1) {
          c->handshaking = false;
          ++stats.tls_handshakes;
          if (SSL_session_reused(c->ssl)) ++stats.tls_resumed;
          if (stats.tls_version.empty()) stats.tls_version = SSL_get_version(c->ssl);
          send(*c, "EHLO " + opt_.helo + "\r\n");
          c->expect.push_back(Stage::ehlo_tls);
          continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
        ERR_clear_error();
        return fail(i, "tls handshake");
      }
      if (!c->out.empty()) {
        Io r = do_write(*c);
        if (r == Io::again) return;
        if (r == Io::error) return fail(i, "write");
        continue;
      }
      int code = 0;
      if (!c->expect.empty() && take_reply(*c, code, text)) {
        if (!on_reply(i, code, text)) return;
        continue;
      }
      if (c->expect.empty() && !c->closing) return;  // nothing to wait for (cannot happen)
      Io r = do_read(*c);
      if (r == Io::ok) continue;
      if (r == Io::again) return;
      if (r == Io::eof && c->closing && c->expect.empty()) return finish(i);
      return fail(i, r == Io::eof ? "server closed the connection" : "read");
    }
  }
};

std::vector<Mail> load_mails(const std::string& path, std::size_t max) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::perror(path.c_str());
    std::exit(2);
  }
  struct stat st{};
  fstat(fd, &st);
  auto* base = static_cast<const char*>(mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0));
  if (base == MAP_FAILED) {
    std::perror("mmap");
    std::exit(2);
  }
  ::close(fd);
  std::vector<Mail> out;
  std::string_view all(base, st.st_size);
  std::size_t pos = 0;
  while (pos < all.size() && (max == 0 || out.size() < max)) {
    std::size_t nl = all.find('\n', pos);
    std::size_t sp = all.find(' ', pos);
    if (nl == std::string_view::npos || sp > nl) {
      std::fprintf(stderr, "%s: bad record at byte %zu\n", path.c_str(), pos);
      std::exit(2);
    }
    std::size_t len = std::strtoull(all.data() + pos, nullptr, 10);
    Mail m{all.substr(sp + 1, nl - sp - 1), all.substr(nl + 1, len)};
    if (m.data.size() != len) {
      std::fprintf(stderr, "%s: truncated record at byte %zu\n", path.c_str(), pos);
      std::exit(2);
    }
    out.push_back(m);
    pos = nl + 1 + len;
  }
  return out;
}

double percentile(std::vector<float>& v, double p) {
  if (v.empty()) return 0;
  std::size_t k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: smtp_load --mode smtp|starttls|lmtp (--connect HOST:PORT | --unix PATH) --mails FILE\n"
               "                 [--connections C] [--threads T] [--duration S] [--max-mails N]\n"
               "                 [--recipient ADDR] [--helo NAME] [--no-pipelining] [--io-timeout S]\n");
  std::exit(64);
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int k = 1; k < argc; ++k) {
    std::string a = argv[k];
    auto val = [&]() -> std::string {
      if (k + 1 >= argc) usage();
      return argv[++k];
    };
    if (a == "--mode") {
      std::string m = val();
      if (m == "smtp") opt.mode = Mode::smtp;
      else if (m == "starttls") opt.mode = Mode::starttls;
      else if (m == "lmtp") opt.mode = Mode::lmtp;
      else usage();
    } else if (a == "--connect") {
      std::string hp = val();
      auto colon = hp.rfind(':');
      if (colon == std::string::npos) usage();
      opt.host = hp.substr(0, colon);
      opt.port = std::atoi(hp.c_str() + colon + 1);
    } else if (a == "--unix") opt.unix_path = val();
    else if (a == "--mails") opt.mails = val();
    else if (a == "--connections") opt.connections = std::atoi(val().c_str());
    else if (a == "--threads") opt.threads = std::atoi(val().c_str());
    else if (a == "--duration") opt.duration = std::atof(val().c_str());
    else if (a == "--io-timeout") opt.io_timeout = std::atof(val().c_str());
    else if (a == "--max-mails") opt.max_mails = std::strtoull(val().c_str(), nullptr, 10);
    else if (a == "--recipient") opt.recipient = val();
    else if (a == "--helo") opt.helo = val();
    else if (a == "--no-pipelining") opt.pipelining = false;
    else usage();
  }
  if (opt.mails.empty() || (opt.port == 0 && opt.unix_path.empty()) || opt.connections < 1 || opt.threads < 1)
    usage();
  opt.threads = std::min(opt.threads, opt.connections);

  Shared sh;
  sh.opt = &opt;
  sh.mails = load_mails(opt.mails, opt.max_mails);
  if (!opt.unix_path.empty()) {
    auto* un = reinterpret_cast<sockaddr_un*>(&sh.addr);
    un->sun_family = AF_UNIX;
    if (opt.unix_path.size() >= sizeof un->sun_path) usage();
    std::memcpy(un->sun_path, opt.unix_path.c_str(), opt.unix_path.size() + 1);
    sh.addr_len = sizeof(sockaddr_un);
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&sh.addr);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&sh.addr);
    if (inet_pton(AF_INET, opt.host.c_str(), &in4->sin_addr) == 1) {
      in4->sin_family = AF_INET;
      in4->sin_port = htons(static_cast<std::uint16_t>(opt.port));
      sh.addr_len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, opt.host.c_str(), &in6->sin6_addr) == 1) {
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(static_cast<std::uint16_t>(opt.port));
      sh.addr_len = sizeof(sockaddr_in6);
    } else {
      usage();
    }
  }
  if (opt.mode == Mode::starttls) {
    sh.tls = SSL_CTX_new(TLS_client_method());
    // The bench certificate is self-signed; what is measured is the handshake's cost.
    SSL_CTX_set_verify(sh.tls, SSL_VERIFY_NONE, nullptr);
    // Every connection a full handshake, as a sender mailing once a day makes.
    SSL_CTX_set_session_cache_mode(sh.tls, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(sh.tls, SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(sh.tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  }

  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < opt.threads; ++t) {
    int n = opt.connections / opt.threads + (t < opt.connections % opt.threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(sh, n));
  }
  sh.start = Clock::now();
  sh.stop_starting = sh.start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.duration));
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - sh.start).count();

  Stats all;
  for (auto& w : workers) {
    Stats& s = w->stats;
    all.mails_started += s.mails_started;
    all.sent += s.sent;
    all.acked += s.acked;
    all.temporary += s.temporary;
    all.permanent += s.permanent;
    all.other_reply += s.other_reply;
    all.lost += s.lost;
    all.connections += s.connections;
    all.conn_errors += s.conn_errors;
    all.tls_handshakes += s.tls_handshakes;
    all.tls_resumed += s.tls_resumed;
    if (all.tls_version.empty()) all.tls_version = s.tls_version;
    if (!all.first_error_code && s.first_error_code) all.first_error_code = s.first_error_code;
    if (all.first_error.empty()) all.first_error = s.first_error;
    all.latency_ms.insert(all.latency_ms.end(), s.latency_ms.begin(), s.latency_ms.end());
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  const double cpu = secs(ru.ru_utime) + secs(ru.ru_stime);
  std::string err = all.first_error;
  for (char& ch : err)
    if (ch == ' ' || ch == '\r' || ch == '\n' || ch == '=') ch = '_';
  std::printf(
      "BENCH mode=%s connections=%d threads=%d mails_available=%zu elapsed_s=%.3f mps=%.1f started=%llu sent=%llu "
      "acked=%llu temporary=%llu permanent=%llu other_reply=%llu lost=%llu tcp_connections=%llu conn_errors=%llu "
      "tls_handshakes=%llu tls_resumed=%llu tls_version=%s exhausted=%d lat_p50_ms=%.2f lat_p99_ms=%.2f "
      "client_cpu_s=%.3f first_error_code=%d first_error=%s\n",
      opt.mode == Mode::smtp ? "smtp" : opt.mode == Mode::starttls ? "starttls" : "lmtp", opt.connections, opt.threads,
      sh.mails.size(), elapsed, static_cast<double>(all.acked) / elapsed, (unsigned long long)all.mails_started,
      (unsigned long long)all.sent, (unsigned long long)all.acked, (unsigned long long)all.temporary,
      (unsigned long long)all.permanent, (unsigned long long)all.other_reply, (unsigned long long)all.lost,
      (unsigned long long)all.connections, (unsigned long long)all.conn_errors,
      (unsigned long long)all.tls_handshakes, (unsigned long long)all.tls_resumed,
      all.tls_version.empty() ? "-" : all.tls_version.c_str(), sh.exhausted ? 1 : 0,
      percentile(all.latency_ms, 0.5), percentile(all.latency_ms, 0.99), cpu, all.first_error_code,
      err.empty() ? "-" : err.c_str());
  return 0;
}
