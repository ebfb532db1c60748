// The HTTPS report endpoint's logic (RFC 8460 §5.4), free of sockets (Beast's
// examples keep the handler apart from the stream): what to answer from a request's
// header before its body is read, how to turn a body into a report ready to store,
// and the reply for an outcome. The server (http_server.cpp) does the I/O.
#pragma once

#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/protocol/reply_table.hpp"
#include "parser/ingest.hpp"
#include "parser/limits.hpp"

namespace tlsrpt::daemon {

struct HttpRequestHead {
  std::string method;
  std::string target;
  unsigned version = 11;
  std::string content_type;      // raw header value
  std::string content_encoding;  // raw header value
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  std::string peer;  // client address, for provenance
};

struct HttpReply {
  int status = 200;
  Outcome outcome = Outcome::stored;
  std::string body;  // JSON
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type = "application/json";
  bool close = false;  // close the connection after this reply
  std::string detail;  // for the log: the error with its path
};

enum class Route { report, healthz, metrics, unknown };

struct HttpPolicy {
  // The POST path of the rua https URI. Ending in '/' (and longer than "/"), it also
  // takes POST <path><domain> (rua=https://host/v1/example.com): a per-domain endpoint
  // whose domain attributes policies that name none (daemon/intake/intake.hpp).
  std::string report_path = "/";
  bool admin = false;                // the admin listener: /metrics and /healthz only
  Limits limits;
  std::chrono::seconds retry_after{60};
};

// Which handler a request target goes to (query strings ignored).
Route route_for(std::string_view target, const HttpPolicy& policy);

// The domain of a per-domain report path (`/v1/example.com` under "/v1/"),
// normalised; "" for the report path itself, nullopt when the segment after the
// path is not a domain name.
std::optional<std::string> report_path_domain(std::string_view target, const HttpPolicy& policy);

// Before the body: 404, 405, 413 (from Content-Length), 415, or nullopt to go on.
std::optional<HttpReply> check_head(const HttpRequestHead& head, const HttpPolicy& policy);

// After the body: undoes a Content-Encoding (gzip) within the limits; nullopt when
// the body is not encoded. The report itself is checked by the intake.
std::expected<std::optional<std::vector<char>>, HttpReply> decode_content(const HttpRequestHead& head,
                                                                         std::string_view body,
                                                                         const HttpPolicy& policy);

// The reply for an outcome, with the parser's error (if any) in the JSON body.
HttpReply reply_for_outcome(Outcome outcome, const Error* error, const HttpPolicy& policy);

// "application/TLSRPT+gzip; charset=x" -> "application/tlsrpt+gzip"
std::string media_type(std::string_view content_type);

}  // namespace tlsrpt::daemon
