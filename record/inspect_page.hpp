// The inspection web site as pure functions: server-rendered HTML for `/`, `/generate`
// and `/inspect`, its stylesheet, the JSON API `/api/v1/inspect`, and a router from
// (method, target) to a reply. No sockets, no DNS (the caller passes an inspect
// function), no logging: the queried domain and the result never leave the reply.
// Every value in the HTML is escaped; there is no script and no inline style, so the
// pages work under the strict Content-Security-Policy below.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "record/record.hpp"
#include "record/record_inspect.hpp"

namespace tlsrpt::record {

// Longest query string read; longer ones get 414.
inline constexpr std::size_t kMaxQueryBytes = 8192;
// Most query parameters read; the rest are ignored.
inline constexpr std::size_t kMaxQueryParams = 32;
// Most rua lines the generator form accepts.
inline constexpr std::size_t kMaxFormRua = 10;

inline constexpr std::string_view kStylePath = "/style.css";
// default-src 'none' forbids scripts, frames, fonts, images and connections; the only
// resource is the stylesheet from this origin; forms submit only here.
std::string_view content_security_policy();

// & < > " ' escaped; control characters (but TAB and LF) and invalid UTF-8 become U+FFFD.
std::string html_escape(std::string_view s);

// application/x-www-form-urlencoded ("a=1&b=x+y%21"): "+" is a space, %HH decoded
// (a malformed escape is kept literally). At most kMaxQueryParams pairs.
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);

struct GenerateForm {
  std::string domain;
  std::string rua;                 // one URI per line
  std::string provider = "generic";
};
GenerateForm generate_form_from_query(std::string_view query);
std::vector<std::string> form_rua_lines(std::string_view text);  // trimmed, empty lines dropped

std::string page_css();
std::string render_home_page();
// `result` is null before the form was submitted.
std::string render_generate_page(const GenerateForm& form,
                                 const std::expected<GeneratedRecord, std::vector<std::string>>* result);
// Exactly one of: nothing (empty form), `refusal` (the domain failed validation, no
// DNS was asked), or `result`.
std::string render_inspect_page(std::string_view domain_input, const InspectResult* result, std::string_view refusal = {});

struct SiteReply {
  int status = 200;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // CSP, nosniff, no-store ...
  std::string body;
};
using InspectFn = std::function<InspectResult(const std::string& domain)>;

struct SiteOptions {
  // Also inspect names private_name_refusal() refuses (an intranet deployment).
  bool allow_private_names = false;
};

// A request to the site split in two, so that the caller can run the DNS work where it
// wants (daemon/net/inspect_service.cpp: on the inspection pool): either `reply` is
// the whole answer (no DNS needed, or refused before any query), or `domain` is to be
// inspected and finish_inspect_site() renders the result.
struct SitePlan {
  std::optional<SiteReply> reply;
  std::string domain;  // the A-label to inspect, when !reply
  std::string input;   // the name as typed (the page shows it back)
  bool api = false;
  bool head = false;
};
SitePlan plan_inspect_site(std::string_view method, std::string_view target, const SiteOptions& options = {});
SiteReply finish_inspect_site(const SitePlan& plan, const InspectResult& result);

// Routes GET/HEAD of "/", "/generate", "/inspect", "/style.css" and
// "/api/v1/inspect?domain=D". An invalid domain gets 400 and a private one 403 before
// `inspect` is called; an inspection whose DNS failed gets 502 (the JSON says why);
// other methods 405, other paths 404, an overlong query 414. Rate limiting is the
// caller's, before this. plan_inspect_site() then finish_inspect_site().
SiteReply serve_inspect_site(std::string_view method, std::string_view target, const InspectFn& inspect,
                             const SiteOptions& options = {});

}  // namespace tlsrpt::record
