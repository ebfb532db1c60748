// The request head the handler sees, read from Beast's parser: one function shared by
// the server and the HTTP fuzz target, so the fuzzer exercises what the server passes.
// No I/O here; the handler itself stays free of Beast (http_handler.hpp).
#pragma once

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>

#include "daemon/protocol/http_handler.hpp"

namespace tlsrpt::daemon {

inline HttpRequestHead head_of(const boost::beast::http::request_parser<boost::beast::http::string_body>& parser,
                               const std::string& peer) {
  namespace http = boost::beast::http;
  const auto& req = parser.get();
  HttpRequestHead h;
  h.method = std::string(req.method_string());
  h.target = std::string(req.target());
  h.version = req.version();
  h.content_type = std::string(req[http::field::content_type]);
  h.content_encoding = std::string(req[http::field::content_encoding]);
  if (auto len = parser.content_length()) h.content_length = *len;
  h.chunked = parser.chunked();
  h.peer = peer;
  return h;
}

}  // namespace tlsrpt::daemon
