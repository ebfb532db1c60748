// `tlsrptd record generate|check|inspect`: the admin's tools for the `_smtp._tls` TXT
// record. Everything that came from DNS or the command line is printed through
// escape_line() in text mode (terminal escapes) and JSON-escaped in JSON mode.
#include <cctype>
#include <iostream>

#include "daemon/cli/command_support.hpp"
#include "daemon/cli/commands.hpp"
#include "daemon/config.hpp"
#include "daemon/exit_codes.hpp"
#include "parser/text.hpp"
#include "record/dns_resolver.hpp"
#include "record/record.hpp"
#include "record/record_guide.hpp"
#include "record/record_inspect.hpp"

namespace tlsrpt::daemon {
using namespace tlsrpt::record;
namespace {

constexpr std::size_t kWidth = 78;

// Word-wraps `text` at kWidth, every line indented by `indent` spaces; explicit "\n"
// in the text starts a new line (used for the BIND zone line, which must not wrap).
std::string wrap(std::string_view text, std::size_t indent, std::size_t first_indent = std::string::npos) {
  if (first_indent == std::string::npos) first_indent = indent;
  std::string out, line(first_indent, ' ');
  std::size_t line_start_len = first_indent;
  auto flush = [&] {
    out += line + "\n";
    line.assign(indent, ' ');
    line_start_len = indent;
  };
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '\n') {
      flush();
      ++i;
      continue;
    }
    std::size_t end = text.find_first_of(" \n", i);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(i, end - i);
    if (line.size() > line_start_len && line.size() + 1 + word.size() > kWidth) flush();
    if (line.size() > line_start_len) line += ' ';
    line += word;
    i = end;
    if (i < text.size() && text[i] == ' ') ++i;
  }
  if (line.size() > line_start_len) out += line + "\n";
  return out;
}

void print_list(std::string_view title, const std::vector<std::string>& items) {
  if (items.empty()) return;
  std::cout << title << ":\n";
  for (const auto& m : items) std::cout << wrap(escape_line(m, 2000), 4).replace(2, 2, "- ");
}

std::string_view destination_note(const RuaUri& u) {
  if (!u.usable) return u.scheme == "mailto" || u.scheme == "https" ? "(not usable: see errors)" : "(ignored by senders)";
  return u.scheme == "mailto" ? "(reports by mail)" : "(reports by HTTPS POST)";
}

void print_destinations(const RecordCheck& c) {
  if (!c.rua.empty()) {
    std::cout << "  reports go to:\n";
    for (const auto& u : c.rua)
      std::cout << "    " << escape_line(u.uri, 300) << "  " << destination_note(u) << "\n";
  }
  for (const auto& e : c.extensions)
    std::cout << "  unknown field, ignored by senders: " << escape_line(e.name, 40) << "=" << escape_line(e.value, 200) << "\n";
}

// A record pasted in zone-file form ("..." "...") is read as DNS character-strings
// and joined without spaces, as senders do (RFC 8460 §3).
std::optional<std::vector<std::string>> zone_strings(std::string_view t) {
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t' || t.back() == '\n')) t.remove_suffix(1);
  if (t.size() < 2 || t.front() != '"' || t.back() != '"') return std::nullopt;
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < t.size()) {
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t')) ++i;
    if (i == t.size()) break;
    if (t[i] != '"') return std::nullopt;
    std::string s;
    ++i;
    bool closed = false;
    while (i < t.size()) {
      char c = t[i++];
      if (c == '"') {
        closed = true;
        break;
      }
      if (c == '\\' && i < t.size()) {
        if (i + 2 < t.size() && std::isdigit(static_cast<unsigned char>(t[i])) &&
            std::isdigit(static_cast<unsigned char>(t[i + 1])) && std::isdigit(static_cast<unsigned char>(t[i + 2]))) {
          int v = (t[i] - '0') * 100 + (t[i + 1] - '0') * 10 + (t[i + 2] - '0');
          if (v > 255) return std::nullopt;
          s.push_back(static_cast<char>(v));
          i += 3;
        } else {
          s.push_back(t[i++]);
        }
        continue;
      }
      s.push_back(c);
    }
    if (!closed) return std::nullopt;
    parts.push_back(std::move(s));
  }
  return parts;
}

}  // namespace

int cmd_record_generate(const RecordGenerateOptions& o) {
  auto provider = parse_provider(o.provider);
  if (!provider) {
    std::cerr << "tlsrptd: --provider must be generic, cloudflare, ionos or bind\n";
    return kExitUsage;
  }
  auto rec = generate_record(o.domain, o.rua);
  if (!rec) {
    if (o.format == "json") {
      std::cout << errors_json(rec.error()) << "\n";
    } else {
      for (const auto& e : rec.error()) std::cerr << "tlsrptd: record generate: " << escape_line(e, 2000) << "\n";
    }
    return kExitDataErr;
  }
  if (o.format == "json") {
    for (const auto& w : rec->warnings) std::cerr << "tlsrptd: warning: " << escape_line(w, 2000) << "\n";
    std::cout << generate_json(*rec) << "\n";
    return kExitOk;
  }
  std::cout << "TLS-RPT record for " << rec->domain << "\n\n";
  std::cout << "  Type   " << rec->type << "\n";
  std::cout << "  Host   " << rec->name << "   (full name: " << rec->host << ")\n";
  std::cout << "  Value  " << rec->value << "\n";
  if (rec->value.size() > kMaxCharacterString && *provider != Provider::bind) {
    std::string parts;
    for (const auto& p : split_character_strings(rec->value)) parts += (parts.empty() ? "\"" : " \"") + p + "\"";
    std::cout << "\n" << wrap("The value is " + std::to_string(rec->value.size()) +
                                  " bytes long, more than one DNS string holds (255). Paste it whole; if your "
                                  "provider asks for quoted strings instead, enter:",
                              2)
              << "    " << parts << "\n";
  }
  std::cout << "\n";
  print_list("Warnings", rec->warnings);
  if (!rec->warnings.empty()) std::cout << "\n";
  std::cout << publish_heading(*provider) << ":\n";
  int n = 0;
  for (const auto& step : provider_steps(*provider, *rec)) {
    // Text after a "\n" is to be copied (a zone-file line): printed as is, unwrapped
    // and unindented, since leading whitespace in a zone file means "same owner".
    auto nl = step.find('\n');
    std::string num = std::to_string(++n) + ". ";
    std::string body = wrap(step.substr(0, nl), 5, 5);
    body.replace(2, num.size(), num);
    std::cout << body;
    if (nl != std::string::npos) std::cout << "\n" << step.substr(nl + 1) << "\n\n";
  }
  for (const auto& sec : record_explanation()) {
    std::cout << "\n" << sec.title << "\n" << wrap(sec.text, 2);
  }
  return kExitOk;
}

int cmd_record_check(const RecordTextOptions& o) {
  std::string text = o.text;
  std::optional<std::size_t> quoted_parts;
  if (auto parts = zone_strings(o.text)) {
    text.clear();
    for (const auto& p : *parts) text += p;
    quoted_parts = parts->size();
  }
  RecordCheck c = check_record(text);
  if (quoted_parts) {
    c.warnings.insert(c.warnings.begin(),
                      "read as " + std::to_string(*quoted_parts) +
                          " quoted DNS string(s), joined without spaces; at a DNS provider's web form, paste the "
                          "value without quotes");
  }
  if (o.format == "json") {
    std::cout << check_json(text, c) << "\n";
  } else {
    std::cout << (c.valid ? "valid TLS-RPT record" : "not a valid TLS-RPT record") << "\n";
    print_destinations(c);
    print_list("errors", c.errors);
    print_list("warnings", c.warnings);
  }
  return c.valid ? kExitOk : kExitDataErr;
}

int cmd_record_inspect(const GlobalOptions& g, const RecordInspectOptions& o) {
  auto cfg = load_config(g);
  if (!cfg) return kExitConfig;
  auto domain = validate_inspect_domain(o.domain);
  if (!domain) {
    std::cerr << "tlsrptd: record inspect: " << escape_line(o.domain, 100) << ": " << domain.error() << "\n";
    return kExitUsage;
  }
  ResolverOptions ro;
  ro.servers = o.resolver ? std::vector<std::string>{*o.resolver} : cfg->dns.servers;
  ro.timeout = cfg->dns.timeout;
  auto resolver = DnsResolver::create(ro);
  if (!resolver) {
    std::cerr << "tlsrptd: record inspect: " << escape_line(resolver.error()) << "\n";
    return o.resolver ? kExitUsage : kExitConfig;
  }
  InspectResult r = inspect_domain(**resolver, *domain);
  const int rc = r.dns_failed() ? kExitTempFail : r.valid() ? kExitOk : kExitDataErr;
  if (o.format == "json") {
    std::cout << inspect_json(r) << "\n";
    return rc;
  }

  std::cout << r.name << ": " << inspect_headline(r) << "\n";
  for (const auto& t : r.txt) {
    bool kept = is_tlsrpt_record(t.joined);
    std::cout << (kept ? "  record:  " : "  ignored: ") << escape_line(t.joined, 600) << "\n";
    if (t.strings.size() > 1) {
      std::string parts;
      for (const auto& s : t.strings) parts += (parts.empty() ? "\"" : " \"") + escape_line(s, 300) + "\"";
      std::cout << "           (published as " << t.strings.size() << " strings, joined without spaces: " << parts
                << ")\n";
    }
  }
  if (r.set.tlsrpt_records.size() == 1) print_destinations(r.set.check);
  print_list("errors", r.errors);
  print_list("warnings", r.warnings);

  if (r.looked_around) {
    std::cout << "\nAround it\n";
    std::cout << "  MTA-STS  " << r.mta_sts.name << ": ";
    if (r.mta_sts.status != DnsStatus::answer) std::cout << "none: " << describe(r.mta_sts.status) << "\n";
    else if (r.mta_sts.valid) std::cout << "announced, id " << escape_line(r.mta_sts.id, 40) << "\n";
    else std::cout << "present but not usable by senders (see warnings)\n";
    for (const auto& rec : r.mta_sts.records) std::cout << "           " << escape_line(rec, 300) << "\n";
    std::cout << "  MX       ";
    if (r.null_mx) std::cout << "null MX: the domain accepts no mail\n";
    else if (r.mx.empty()) std::cout << "none: " << describe(r.mx_status) << "\n";
    else if (r.implicit_mx) std::cout << "none; mail goes to " << r.domain << " itself (implicit MX)\n";
    else std::cout << r.mx.size() << " host" << (r.mx.size() == 1 ? "" : "s") << "\n";
    for (const auto& m : r.mx) {
      std::cout << "           " << (r.implicit_mx ? "" : std::to_string(m.preference) + " ") << escape_line(m.host, 260);
      if (!m.tlsa.empty()) {
        std::cout << "  DANE: " << m.tlsa.size() << " TLSA record" << (m.tlsa.size() == 1 ? "" : "s") << " at "
                  << m.tlsa_name << "\n";
        for (const auto& t : m.tlsa) std::cout << "             " << escape_line(t, 160) << "\n";
      } else {
        std::cout << "  no TLSA records: " << describe(m.tlsa_status) << "\n";
      }
    }
  }
  std::cout << "\nWhere you are: " << stage_label(r.stage) << "\n";
  std::cout << wrap(escape_line(r.summary, 2000), 2);
  return rc;
}

}  // namespace tlsrpt::daemon
