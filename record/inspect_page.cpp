// HTML is built by concatenation with exactly one way in for data: esc() (html_escape).
// Literal markup never contains data; data never goes through anything but esc().
#include "record/inspect_page.hpp"

#include <algorithm>

#include "parser/json_writer.hpp"
#include "parser/text.hpp"
#include "record/record_guide.hpp"

namespace tlsrpt::record {
namespace {

std::string esc(std::string_view s) { return html_escape(s); }

constexpr std::string_view kTitle = "TLS-RPT record tools";

std::string layout(std::string_view title, std::string_view body) {
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
       "<meta name=\"referrer\" content=\"no-referrer\">\n<title>";
  h += esc(title);
  h += " · ";
  h += kTitle;
  h += "</title>\n<link rel=\"stylesheet\" href=\"";
  h += kStylePath;
  h += "\">\n</head>\n<body>\n<header><nav><a class=\"home\" href=\"/\">";
  h += kTitle;
  h += "</a> <a href=\"/generate\">Generate a record</a> <a href=\"/inspect\">Inspect a domain</a></nav></header>\n"
       "<main>\n";
  h += body;
  h += "</main>\n<footer>tlsrptd · SMTP TLS Reporting (RFC 8460)</footer>\n</body>\n</html>\n";
  return h;
}

std::string list(std::string_view cls, const std::vector<std::string>& items) {
  if (items.empty()) return {};
  std::string h = "<ul class=\"" + std::string(cls) + "\">\n";
  for (const auto& i : items) h += "<li>" + esc(i) + "</li>\n";
  return h + "</ul>\n";
}

// Text with "\n"-separated lines: the first as a paragraph, the rest as preformatted
// lines when `pre` (a zone-file line must not wrap), else as paragraphs.
std::string lines(std::string_view text, bool pre_after_first) {
  std::string h;
  std::size_t start = 0;
  bool first = true;
  while (start <= text.size()) {
    auto nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (!first && pre_after_first) h += "<pre><code>" + esc(line) + "</code></pre>";
    else h += (first && pre_after_first ? "" : "<p>") + esc(line) + (first && pre_after_first ? "" : "</p>");
    first = false;
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return h;
}

std::string explanation() {
  std::string h = "<section class=\"explain\">\n";
  for (const auto& s : record_explanation()) {
    h += "<h3>" + esc(s.title) + "</h3>\n";
    h += lines(s.text, false) + "\n";
  }
  return h + "</section>\n";
}

std::string generate_form(const GenerateForm& f) {
  std::string h = "<form class=\"tool\" method=\"get\" action=\"/generate\">\n"
                  "<label for=\"domain\">Mail domain</label>\n"
                  "<input id=\"domain\" name=\"domain\" type=\"text\" maxlength=\"253\" required autocomplete=\"off\" "
                  "spellcheck=\"false\" placeholder=\"example.com\" value=\"" +
                  esc(f.domain) +
                  "\">\n"
                  "<label for=\"rua\">Where reports go, one per line (mailto: or https:)</label>\n"
                  "<textarea id=\"rua\" name=\"rua\" rows=\"3\" required spellcheck=\"false\" "
                  "placeholder=\"mailto:tlsrpt@example.com\">" +
                  esc(f.rua) +
                  "</textarea>\n"
                  "<label for=\"provider\">DNS provider</label>\n<select id=\"provider\" name=\"provider\">\n";
  for (Provider p : kProviders) {
    h += "<option value=\"" + esc(provider_token(p)) + "\"" + (f.provider == provider_token(p) ? " selected" : "") +
         ">" + esc(provider_label(p)) + "</option>\n";
  }
  h += "</select>\n<button type=\"submit\">Generate the record</button>\n</form>\n";
  return h;
}

std::string inspect_form(std::string_view domain) {
  return "<form class=\"tool\" method=\"get\" action=\"/inspect\">\n"
         "<label for=\"inspect-domain\">Mail domain</label>\n"
         "<input id=\"inspect-domain\" name=\"domain\" type=\"text\" maxlength=\"253\" required autocomplete=\"off\" "
         "spellcheck=\"false\" placeholder=\"example.com\" value=\"" +
         esc(domain) + "\">\n<button type=\"submit\">Inspect</button>\n</form>\n";
}

std::string destinations(const RecordCheck& c) {
  if (c.rua.empty()) return {};
  std::string h = "<h3>Reports go to</h3>\n<ul class=\"rua\">\n";
  for (const auto& u : c.rua) {
    std::string note = !u.usable ? (u.scheme == "mailto" || u.scheme == "https" ? "not usable, see the errors"
                                                                                 : "ignored by senders")
                       : u.scheme == "mailto" ? "by mail"
                                              : "by HTTPS POST";
    h += "<li><code>" + esc(u.uri) + "</code> <span class=\"note\">" + esc(note) + "</span></li>\n";
  }
  return h + "</ul>\n";
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string form_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string param(const std::vector<std::pair<std::string, std::string>>& q, std::string_view name, bool& present) {
  for (const auto& [k, v] : q)
    if (k == name) {
      present = true;
      return v;
    }
  present = false;
  return {};
}

void security_headers(SiteReply& r, bool cacheable) {
  r.headers.emplace_back("Content-Security-Policy", std::string(content_security_policy()));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Cache-Control", cacheable ? "public, max-age=3600" : "no-store");
}

SiteReply reply(int status, std::string_view type, std::string body, bool cacheable = false) {
  SiteReply r;
  r.status = status;
  r.content_type = std::string(type);
  r.body = std::move(body);
  security_headers(r, cacheable);
  return r;
}

std::string api_error(std::string_view message) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.member("error", message);
  w.end_object();
  return out;
}

}  // namespace

std::string_view content_security_policy() {
  return "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '&': out += "&amp;"; ++i; continue;
      case '<': out += "&lt;"; ++i; continue;
      case '>': out += "&gt;"; ++i; continue;
      case '"': out += "&quot;"; ++i; continue;
      case '\'': out += "&#39;"; ++i; continue;
      default: break;
    }
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) out += "\xEF\xBF\xBD";
      else out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    if (std::size_t len = utf8_sequence_length(s, i)) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  if (q.size() > kMaxQueryBytes) q = q.substr(0, kMaxQueryBytes);
  while (!q.empty() && out.size() < kMaxQueryParams) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      out.emplace_back(form_decode(pair.substr(0, eq)),
                       eq == std::string_view::npos ? std::string() : form_decode(pair.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

GenerateForm generate_form_from_query(std::string_view query) {
  auto q = parse_query(query);
  GenerateForm f;
  bool present = false;
  f.domain = param(q, "domain", present);
  f.rua = param(q, "rua", present);
  std::string p = param(q, "provider", present);
  if (parse_provider(p)) f.provider = p;
  return f;
}

std::vector<std::string> form_rua_lines(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t' || line.front() == '\r')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
    if (!line.empty()) out.emplace_back(line);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return out;
}

std::string page_css() {
  return R"css(:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fdfdfc; --muted: #5b6570; --line: #d5d9de;
  --ok: #1f7a3d; --bad: #b3261e; --warn: #8a5a00; --code: #f1f3f5; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8eb; --bg: #15181b; --muted: #9aa4ae; --line: #39414a;
  --ok: #5cc585; --bad: #ff8a80; --warn: #f0c060; --code: #22272d; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header, main, footer { max-width: 52rem; margin: 0 auto; padding: 0 1rem; }
header nav { display: flex; flex-wrap: wrap; gap: 1.25rem; padding: 1rem 0; border-bottom: 1px solid var(--line); }
header a { color: inherit; text-decoration: none; }
header a.home { font-weight: 600; margin-right: auto; }
header a:hover { text-decoration: underline; }
footer { color: var(--muted); font-size: .85rem; padding: 2rem 1rem; }
h1 { font-size: 1.6rem; margin: 1.5rem 0 .5rem; }
h2 { font-size: 1.25rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .25rem; }
form.tool { display: grid; gap: .35rem; max-width: 36rem; margin: 1rem 0; }
form.tool label { font-weight: 600; margin-top: .5rem; }
input, textarea, select { font: inherit; padding: .45rem .55rem; border: 1px solid var(--line); border-radius: 4px;
  background: var(--bg); color: var(--fg); }
textarea { font-family: ui-monospace, monospace; }
button { font: inherit; justify-self: start; margin-top: .75rem; padding: .5rem 1rem; border: 0; border-radius: 4px;
  background: var(--fg); color: var(--bg); cursor: pointer; }
code, pre { font-family: ui-monospace, monospace; font-size: .92em; background: var(--code); border-radius: 3px; }
code { padding: .05rem .3rem; overflow-wrap: anywhere; }
pre { padding: .6rem .75rem; overflow-x: auto; }
pre code { padding: 0; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { text-align: left; vertical-align: top; padding: .35rem .75rem .35rem 0; border-bottom: 1px solid var(--line); }
section.result { border-left: 4px solid var(--line); padding: .25rem 0 .5rem 1rem; margin: 1.5rem 0; }
section.result.ok { border-color: var(--ok); }
section.result.bad { border-color: var(--bad); }
section.result.unknown { border-color: var(--warn); }
.verdict { font-weight: 600; }
.ok .verdict { color: var(--ok); }
.bad .verdict { color: var(--bad); }
.unknown .verdict { color: var(--warn); }
ul.errors li { color: var(--bad); }
ul.warnings li { color: var(--warn); }
.note, .muted { color: var(--muted); }
section.explain { border-top: 1px solid var(--line); margin-top: 2rem; }
)css";
}

std::string render_home_page() {
  std::string b;
  b += "<h1>Set up SMTP TLS Reporting for your domain</h1>\n"
       "<p>Mail servers that send to your domain can tell you every day how well encrypted delivery to you works "
       "(RFC 8460). They do so once you publish one DNS TXT record at <code>_smtp._tls.</code><em>your domain</em>. "
       "These two tools write that record for you and check what is actually published.</p>\n";
  b += "<h2>Generate a record</h2>\n" + generate_form(GenerateForm{});
  b += "<h2>Inspect a domain</h2>\n<p class=\"muted\">Looks up the record the way a sending mail server does, and "
       "the MTA-STS, MX and DANE records around it.</p>\n" + inspect_form("");
  b += explanation();
  return layout("Home", b);
}

std::string render_generate_page(const GenerateForm& form,
                                 const std::expected<GeneratedRecord, std::vector<std::string>>* result) {
  std::string b = "<h1>Generate a TLS-RPT record</h1>\n" + generate_form(form);
  if (result && !*result) {
    b += "<section class=\"result bad\">\n<p class=\"verdict\">The record cannot be generated:</p>\n" +
         list("errors", result->error()) + "</section>\n";
  } else if (result) {
    const GeneratedRecord& g = **result;
    Provider p = parse_provider(form.provider).value_or(Provider::generic);
    b += "<section class=\"result ok\">\n<h2>Your record for " + esc(g.domain) + "</h2>\n";
    b += "<table class=\"record\">\n<tr><th>Type</th><td><code>" + esc(g.type) + "</code></td></tr>\n";
    b += "<tr><th>Host</th><td><code>" + esc(g.name) + "</code> <span class=\"note\">full name <code>" + esc(g.host) +
         "</code></span></td></tr>\n";
    b += "<tr><th>Value</th><td><code class=\"value\">" + esc(g.value) + "</code></td></tr>\n</table>\n";
    if (g.value.size() > kMaxCharacterString && p != Provider::bind) {
      std::string parts;
      for (const auto& s : split_character_strings(g.value)) parts += (parts.empty() ? "\"" : " \"") + s + "\"";
      b += "<p class=\"note\">The value is " + std::to_string(g.value.size()) +
           " bytes long, more than one DNS string holds (255). Paste it whole; if your provider asks for quoted "
           "strings instead, enter:</p>\n<pre><code>" + esc(parts) + "</code></pre>\n";
    }
    if (!g.warnings.empty()) b += "<h3>Warnings</h3>\n" + list("warnings", g.warnings);
    b += "<h3>" + esc(publish_heading(p)) + "</h3>\n<ol class=\"steps\">\n";
    for (const auto& step : provider_steps(p, g)) b += "<li>" + lines(step, true) + "</li>\n";
    b += "</ol>\n<p>Once it is published, <a href=\"/inspect?domain=" + esc(g.domain) +
         "\">inspect the domain</a> to see what senders see.</p>\n</section>\n";
  }
  b += explanation();
  return layout("Generate", b);
}

std::string render_inspect_page(std::string_view domain_input, const InspectResult* r, std::string_view refusal) {
  std::string b = "<h1>Inspect a domain's TLS-RPT record</h1>\n" + inspect_form(domain_input);
  if (!refusal.empty()) {
    b += "<section class=\"result bad\">\n<p class=\"verdict\">This cannot be looked up: " + esc(refusal) +
         "</p>\n</section>\n";
  } else if (r) {
    std::string cls = r->dns_failed() ? "unknown" : r->valid() ? "ok" : "bad";
    b += "<section class=\"result " + cls + "\">\n<h2><code>" + esc(r->name) + "</code></h2>\n";
    b += "<p class=\"verdict\">" + esc(inspect_headline(*r)) + "</p>\n";
    if (!r->txt.empty()) {
      b += "<h3>TXT records found</h3>\n<ul class=\"records\">\n";
      for (const auto& t : r->txt) {
        b += "<li><code>" + esc(t.joined) + "</code>";
        if (!is_tlsrpt_record(t.joined)) b += " <span class=\"note\">ignored by senders</span>";
        if (t.strings.size() > 1)
          b += " <span class=\"note\">published as " + std::to_string(t.strings.size()) +
               " strings, joined without spaces</span>";
        b += "</li>\n";
      }
      b += "</ul>\n";
    }
    if (r->set.tlsrpt_records.size() == 1) b += destinations(r->set.check);
    if (!r->errors.empty()) b += "<h3>Errors</h3>\n" + list("errors", r->errors);
    if (!r->warnings.empty()) b += "<h3>Warnings</h3>\n" + list("warnings", r->warnings);
    if (r->looked_around) {
      b += "<h3>Around it</h3>\n<table class=\"around\">\n<tr><th>MTA-STS</th><td><code>" + esc(r->mta_sts.name) +
           "</code>: ";
      if (r->mta_sts.status != DnsStatus::answer) b += esc(std::string("none: ") + std::string(describe(r->mta_sts.status)));
      else if (r->mta_sts.valid) b += "announced, id <code>" + esc(r->mta_sts.id) + "</code>";
      else b += "present but not usable by senders";
      for (const auto& rec : r->mta_sts.records) b += "<br><code>" + esc(rec) + "</code>";
      b += "</td></tr>\n<tr><th>MX</th><td>";
      if (r->null_mx) b += "null MX: the domain accepts no mail";
      else if (r->mx.empty()) b += esc(std::string("none: ") + std::string(describe(r->mx_status)));
      else if (r->implicit_mx) b += "none; mail goes to the domain itself (implicit MX)";
      for (const auto& m : r->mx) {
        b += "<br><code>" + (r->implicit_mx ? std::string() : std::to_string(m.preference) + " ") + esc(m.host) +
             "</code> ";
        if (m.tlsa.empty()) {
          b += "<span class=\"note\">no TLSA records: " + esc(tlsa_absence(m)) + "</span>";
        } else {
          b += "DANE, TLSA at <code>" + esc(m.tlsa_name) + "</code>:";
          for (const auto& t : m.tlsa) b += "<br><code>" + esc(t) + "</code>";
        }
      }
      b += "</td></tr>\n</table>\n";
    }
    b += "<h3>Where you are: " + esc(stage_label(r->stage)) + "</h3>\n<p>" + esc(r->summary) + "</p>\n</section>\n";
  }
  return layout("Inspect", b);
}

namespace {

// The pages and answers that need no DNS: everything but an inspection.
SiteReply static_site_reply(std::string_view path, std::string_view query) {
  const std::string_view html = "text/html; charset=utf-8";
  if (path == "/") return reply(200, html, render_home_page());
  if (path == kStylePath) return reply(200, "text/css; charset=utf-8", page_css(), true);
  if (path == "/generate") {
    auto q = parse_query(query);
    bool has_domain = false, has_rua = false;
    param(q, "domain", has_domain);
    param(q, "rua", has_rua);
    GenerateForm f = generate_form_from_query(query);
    if (!has_domain && !has_rua) return reply(200, html, render_generate_page(f, nullptr));
    auto ruas = form_rua_lines(f.rua);
    std::expected<GeneratedRecord, std::vector<std::string>> result =
        ruas.size() > kMaxFormRua
            ? std::expected<GeneratedRecord, std::vector<std::string>>(std::unexpected(std::vector<std::string>{
                  "at most " + std::to_string(kMaxFormRua) + " destinations, please"}))
            : generate_record(f.domain, ruas);
    return reply(200, html, render_generate_page(f, &result));
  }
  return reply(404, "text/plain; charset=utf-8", "not found\n");
}

// /inspect and /api/v1/inspect: the name checked (400, 403) before any DNS query.
SitePlan plan_inspection(SitePlan plan, std::string_view query, const SiteOptions& options) {
  const std::string_view html = "text/html; charset=utf-8";
  auto q = parse_query(query);
  bool present = false;
  plan.input = param(q, "domain", present);
  if (!present && !plan.api) {
    plan.reply = reply(200, html, render_inspect_page("", nullptr));
    return plan;
  }
  auto domain = validate_inspect_domain(plan.input);
  std::optional<std::string> refusal;
  if (domain && !options.allow_private_names) refusal = private_name_refusal(*domain);
  if (!domain || refusal) {
    // The validator and the public-name check are the only gates to inspect().
    const int status = domain ? 403 : 400;
    const std::string why = domain ? *refusal : domain.error();
    plan.reply = plan.api ? reply(status, "application/json", api_error(why) + "\n")
                          : reply(status, html, render_inspect_page(plan.input, nullptr, why));
    return plan;
  }
  plan.domain = std::move(*domain);
  return plan;
}

}  // namespace

SitePlan plan_inspect_site(std::string_view method, std::string_view target, const SiteOptions& options) {
  auto qpos = target.find('?');
  std::string_view path = target.substr(0, qpos);
  std::string_view query = qpos == std::string_view::npos ? std::string_view() : target.substr(qpos + 1);
  SitePlan plan;
  plan.head = method == "HEAD";
  plan.api = path == "/api/v1/inspect";
  if (method != "GET" && !plan.head) {
    plan.reply = reply(405, "text/plain; charset=utf-8", "method not allowed\n");
    plan.reply->headers.emplace_back("Allow", "GET, HEAD");
    return plan;
  }
  if (query.size() > kMaxQueryBytes) plan.reply = reply(414, "text/plain; charset=utf-8", "query too long\n");
  else if (path == "/inspect" || plan.api) plan = plan_inspection(std::move(plan), query, options);
  else plan.reply = static_site_reply(path, query);
  if (plan.head && plan.reply) plan.reply->body.clear();  // same status and headers as GET, no body
  return plan;
}

SiteReply finish_inspect_site(const SitePlan& plan, const InspectResult& r) {
  SiteReply out = plan.api ? reply(r.dns_failed() ? 502 : 200, "application/json", inspect_json(r) + "\n")
                           : reply(200, "text/html; charset=utf-8", render_inspect_page(plan.input, &r));
  if (plan.head) out.body.clear();
  return out;
}

SiteReply serve_inspect_site(std::string_view method, std::string_view target, const InspectFn& inspect,
                             const SiteOptions& options) {
  SitePlan plan = plan_inspect_site(method, target, options);
  if (plan.reply) return std::move(*plan.reply);
  return finish_inspect_site(plan, inspect(plan.domain));
}

}  // namespace tlsrpt::record
