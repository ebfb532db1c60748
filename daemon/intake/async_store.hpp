// Awaiting the store writer from a coroutine: the writer's completion (on its own
// thread) is posted back to the awaiting coroutine's executor.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>

#include "daemon/intake/store_writer.hpp"

namespace tlsrpt::daemon {

template <class Token>
auto async_store(StoreWriter& writer, Ingested report, Provenance provenance, std::string raw, std::string hold_reason,
                 Token&& token) {
  namespace asio = boost::asio;
  return asio::async_initiate<Token, void(StoreResult)>(
      [&writer](auto handler, Ingested r, Provenance p, std::string raw_bytes, std::string hold) {
        auto ex = asio::get_associated_executor(handler);
        writer.submit(
            std::move(r), std::move(p), std::move(raw_bytes),
            [h = std::move(handler), ex](StoreResult res) mutable {
              asio::post(ex, [h = std::move(h), res = std::move(res)]() mutable { std::move(h)(std::move(res)); });
            },
            std::move(hold));
      },
      token, std::move(report), std::move(provenance), std::move(raw), std::move(hold_reason));
}

template <class Token>
auto async_probe(StoreWriter& writer, Token&& token) {
  namespace asio = boost::asio;
  return asio::async_initiate<Token, void(bool)>(
      [&writer](auto handler) {
        auto ex = asio::get_associated_executor(handler);
        writer.probe([h = std::move(handler), ex](bool ok) mutable {
          asio::post(ex, [h = std::move(h), ok]() mutable { std::move(h)(ok); });
        });
      },
      token);
}

}  // namespace tlsrpt::daemon
