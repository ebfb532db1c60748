// A lean TLS server stream for the HTTPS listener: OpenSSL over two memory BIOs,
// moving network bytes through a beast::tcp_stream (so every operation keeps the
// stream's deadline). Boost.Asio's ssl::stream allocates and zero-fills 68 KiB of
// fixed buffers per connection; this one holds a 4 KiB read buffer and what OpenSSL
// itself needs, which is what lets 1000 open connections fit in 64 MiB. It models
// Beast's AsyncStream (async_read_some, async_write_some, next_layer), so
// http::async_read/async_write and beast::get_lowest_layer work on it.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_prefix.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <array>
#include <memory>
#include <string>

namespace tlsrpt::daemon {

class TlsStream {
 public:
  using next_layer_type = boost::beast::tcp_stream;
  using executor_type = next_layer_type::executor_type;

  // Network bytes read per receive, and the most application data per TLS write.
  static constexpr std::size_t kNetChunk = 4096;
  static constexpr std::size_t kMaxWrite = 16384;

  // The SSL object and the read buffer are made when the client's first bytes
  // arrive (see async_handshake): an idle connection costs only its socket.
  TlsStream(boost::asio::ip::tcp::socket&& socket, SSL_CTX* ctx) : tcp_(std::move(socket)), ctx_(ctx) {
    SSL_CTX_up_ref(ctx_);
  }
  ~TlsStream() {
    if (ssl_) SSL_free(ssl_);  // frees the BIOs too
    SSL_CTX_free(ctx_);
  }
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  executor_type get_executor() noexcept { return tcp_.get_executor(); }
  next_layer_type& next_layer() noexcept { return tcp_; }
  bool ready() const { return ssl_ && rbio_ && wbio_; }

  // Creates the SSL object with its two memory BIOs; false when out of memory.
  bool create() {
    if (ssl_) return ready();
    ssl_ = SSL_new(ctx_);
    if (!ssl_) return false;
    rbio_ = BIO_new(BIO_s_mem());
    wbio_ = BIO_new(BIO_s_mem());
    if (!rbio_ || !wbio_) {
      BIO_free(rbio_);
      BIO_free(wbio_);
      rbio_ = wbio_ = nullptr;
      return false;
    }
    // A drained memory BIO reports "retry" rather than EOF.
    BIO_set_mem_eof_return(rbio_, -1);
    BIO_set_mem_eof_return(wbio_, -1);
    SSL_set_bio(ssl_, rbio_, wbio_);  // SSL owns them now
    SSL_set_accept_state(ssl_);
    return true;
  }

  // The first OpenSSL call waits for the client's first bytes: OpenSSL sets up its
  // record buffers (~35 KiB) when a handshake starts, and a connection that never
  // sends a ClientHello should cost nothing but its socket.
  template <class Token>
  auto async_handshake(Token&& token) {
    return async_op([](SSL* s, int& r) { r = SSL_do_handshake(s); return r; }, std::forward<Token>(token),
                    /*input_first=*/true);
  }

  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    boost::asio::mutable_buffer b;
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it)
      if (boost::asio::buffer_size(*it) > 0) {
        b = *it;
        break;
      }
    return async_op(
        [b](SSL* s, int& r) {
          if (b.size() == 0) return r = 0, 1;  // nothing asked: done, 0 bytes
          return r = SSL_read(s, b.data(), static_cast<int>(std::min<std::size_t>(b.size(), INT_MAX)));
        },
        std::forward<Token>(token));
  }

  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    // SSL_write takes one contiguous block: gather up to kMaxWrite bytes.
    auto prefix = boost::beast::buffers_prefix(kMaxWrite, buffers);
    auto data = std::make_shared<std::string>(boost::asio::buffer_size(prefix), '\0');
    boost::asio::buffer_copy(boost::asio::buffer(*data), prefix);
    return async_op(
        [data](SSL* s, int& r) {
          if (data->empty()) return r = 0, 1;
          return r = SSL_write(s, data->data(), static_cast<int>(data->size()));
        },
        std::forward<Token>(token));
  }

  // Sends close_notify; does not wait for the peer's.
  template <class Token>
  auto async_shutdown(Token&& token) {
    return async_op(
        [](SSL* s, int& r) {
          r = SSL_shutdown(s);
          if (r == 0) r = 1;  // ours is sent; not waiting for theirs
          return r;
        },
        std::forward<Token>(token));
  }

 private:
  // One OpenSSL call retried until it succeeds: what OpenSSL writes goes to the
  // network first; when it needs input, a receive feeds the read BIO.
  template <class Op>
  struct Impl {
    Impl(TlsStream* stream, Op o, bool first) : s(stream), op(std::move(o)), input_first(first) {}
    TlsStream* s;
    Op op;
    enum { start, flushing, receiving } state = start;
    int result = 0;
    bool finished = false;  // the call succeeded; complete after the flush
    bool async = false;     // an asynchronous step happened (else post the completion)
    std::shared_ptr<std::string> out;
    bool input_first = false;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0) {
      if (state == start && input_first && !s->ssl_) {
        state = receiving;
        async = true;
        auto& tcp = s->tcp_;
        tcp.async_read_some(boost::asio::buffer(s->inbuf_), std::move(self));
        return;
      }
      if (state == flushing) {
        out.reset();
        if (ec) return self.complete(ec, 0);
        if (finished) {
          if (SSL_pending(s->ssl_) == 0 && BIO_ctrl_pending(s->rbio_) == 0) SSL_free_buffers(s->ssl_);
          return self.complete({}, static_cast<std::size_t>(result));
        }
      } else if (state == receiving) {
        if (!ec && !s->create()) return self.complete(boost::asio::error::no_memory, 0);
        if (ec) return self.complete(ec == boost::asio::error::eof && s->ssl_ && SSL_in_init(s->ssl_) == 0
                                         ? boost::system::error_code(boost::asio::ssl::error::stream_truncated)
                                         : ec,
                                     0);
        BIO_write(s->rbio_, s->inbuf_.data(), static_cast<int>(n));
      }
      if (!s->ready()) return done(self, boost::asio::error::no_memory, 0);
      ERR_clear_error();
      int r = 0;
      int rc = op(s->ssl_, r);
      int err = rc > 0 ? SSL_ERROR_NONE : SSL_get_error(s->ssl_, rc);
      if (err == SSL_ERROR_NONE) {
        result = r;
        finished = true;
      }
      // Whatever OpenSSL produced (handshake flights, alerts, records) goes out first.
      if (BIO_ctrl_pending(s->wbio_) > 0) {
        out = std::make_shared<std::string>(BIO_ctrl_pending(s->wbio_), '\0');
        BIO_read(s->wbio_, out->data(), static_cast<int>(out->size()));
        state = flushing;
        async = true;
        // Taken before `self` (which holds this object) is moved into the operation.
        auto pending = out;
        auto buf = boost::asio::buffer(*pending);
        auto& tcp = s->tcp_;
        if (!finished && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
          // A fatal alert was produced: send it, then fail.
          boost::asio::async_write(tcp, buf,
                                   [self = std::move(self), pending](boost::system::error_code, std::size_t) mutable {
                                     self.complete(boost::asio::ssl::error::stream_truncated, 0);
                                   });
          return;
        }
        boost::asio::async_write(tcp, buf, std::move(self));
        return;
      }
      if (finished) {
        // Between records a connection needs no record buffers: give them back
        // (SSL_MODE_RELEASE_BUFFERS misses some, e.g. after the handshake).
        if (SSL_pending(s->ssl_) == 0 && BIO_ctrl_pending(s->rbio_) == 0) SSL_free_buffers(s->ssl_);
        return done(self, {}, static_cast<std::size_t>(result));
      }
      if (err == SSL_ERROR_WANT_READ) {
        state = receiving;
        async = true;
        auto& tcp = s->tcp_;
        tcp.async_read_some(boost::asio::buffer(s->inbuf_), std::move(self));
        return;
      }
      if (err == SSL_ERROR_ZERO_RETURN) return done(self, boost::asio::error::eof, 0);
      unsigned long e = ERR_get_error();
      return done(self,
                  e ? boost::system::error_code(static_cast<int>(e), boost::asio::error::get_ssl_category())
                    : boost::system::error_code(boost::asio::ssl::error::stream_truncated),
                  0);
    }

    // Completes, through the executor when nothing asynchronous happened yet, so a
    // caller reading in a loop never recurses.
    template <class Self>
    void done(Self& self, boost::system::error_code ec, std::size_t n) {
      if (async) return self.complete(ec, n);
      auto ex = s->tcp_.get_executor();
      boost::asio::post(ex, [self = std::move(self), ec, n]() mutable { self.complete(ec, n); });
    }
  };

  template <class Op, class Token>
  auto async_op(Op op, Token&& token, bool input_first = false) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        Impl<Op>(this, std::move(op), input_first), token, tcp_);
  }

  next_layer_type tcp_;
  SSL_CTX* ctx_;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // network -> OpenSSL
  BIO* wbio_ = nullptr;  // OpenSSL -> network
  std::array<char, kNetChunk> inbuf_{};
};

}  // namespace tlsrpt::daemon
