// The RFC 8460 §3 record grammar, written as a hand parser so that every way a record
// goes wrong gets its own plain-language reason. Input is untrusted (DNS answers, web
// forms): nothing here throws, and every quoted fragment is shown escaped and cut.
#include "record/record.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "parser/domain.hpp"
#include "parser/text.hpp"

namespace tlsrpt {
namespace {

constexpr std::string_view kVersionField = "v=TLSRPTv1";

bool is_wsp(char c) { return c == ' ' || c == '\t'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  return (c | 0x20) - 'a' + 10;
}

// A fragment of untrusted text inside a message, quoted, escaped and cut after 80
// bytes so one absurd record cannot produce an absurd message.
std::string shown(std::string_view s) { return quote_value(s, 80); }

// Collects messages once each (a URI with three raw "!" gets one message).
struct Sink {
  RecordCheck& r;
  void error(std::string m) {
    if (std::find(r.errors.begin(), r.errors.end(), m) == r.errors.end()) r.errors.push_back(std::move(m));
  }
  void warn(std::string m) {
    if (std::find(r.warnings.begin(), r.warnings.end(), m) == r.warnings.end()) r.warnings.push_back(std::move(m));
  }
};

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return std::nullopt;
    out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
    i += 2;
  }
  return out;
}

// RFC 3986 characters that may appear raw in a TLS-RPT URI: unreserved, gen-delims and
// sub-delims, minus "," "!" ";" which RFC 8460 §3 says MUST be percent-encoded.
bool uri_char(char c) {
  if (is_alpha(c) || is_digit(c)) return true;
  switch (c) {
    case '-': case '.': case '_': case '~':                                 // unreserved
    case ':': case '/': case '?': case '#': case '[': case ']': case '@':   // gen-delims
    case '$': case '&': case '\'': case '(': case ')': case '*': case '+': case '=':  // sub-delims
      return true;
    default:
      return false;
  }
}

// Why a mail or web domain (A-label, lower case) looks unreachable from the internet.
std::optional<std::string> unreachable_reason(std::string_view d) {
  auto dot = d.rfind('.');
  if (dot == std::string_view::npos) return "has no dot, so senders on the internet cannot reach it";
  std::string_view tld = d.substr(dot + 1);
  if (!tld.empty() && std::all_of(tld.begin(), tld.end(), is_digit))
    return "looks like an IP address, not a domain name";
  static constexpr std::string_view kInternal[] = {"test",     "example", "invalid", "localhost", "local",
                                                   "localdomain", "internal", "lan",  "home",      "corp",
                                                   "intranet", "private"};
  for (auto t : kInternal)
    if (tld == t)
      return "uses the top-level domain ." + std::string(t) + ", which senders on the internet cannot reach";
  if (d.ends_with(".home.arpa") || d == "home.arpa") return "is a home network name (home.arpa), unreachable from the internet";
  for (std::string_view doc : {"example.com", "example.net", "example.org"})
    if (d == doc || (d.size() > doc.size() && d.ends_with(doc) && d[d.size() - doc.size() - 1] == '.'))
      return "is reserved for documentation (RFC 2606): reports sent there are lost";
  return std::nullopt;
}

// RFC 5322 §3.4.1 addr-spec (without comments or obsolete forms). On success stores
// the A-label domain ("" for an address literal) in `domain`.
std::optional<std::string> addr_spec_problem(std::string_view addr, std::string& domain) {
  if (addr.empty()) return "is empty";
  auto at = addr.rfind('@');
  if (at == std::string_view::npos) return "has no \"@\"";
  std::string_view local = addr.substr(0, at), dom = addr.substr(at + 1);
  if (local.empty()) return "has nothing before \"@\"";
  if (dom.empty()) return "has no domain after \"@\"";
  if (local.front() == '"') {
    if (local.size() < 2 || local.back() != '"') return "has an unterminated quoted local part";
    for (std::size_t i = 1; i + 1 < local.size(); ++i) {
      auto c = static_cast<unsigned char>(local[i]);
      if (c == '\\') {
        ++i;
        if (i + 1 >= local.size()) return "ends its quoted local part with a lone backslash";
        continue;
      }
      if (c == '"' || (c < 0x20 && c != '\t') || c == 0x7f) return "has a character that cannot appear in a quoted local part";
    }
  } else {
    static constexpr std::string_view kAtextSpecials = "!#$%&'*+-/=?^_`{|}~";
    if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
      return "has a local part with an empty dot-separated part";
    for (char ch : local) {
      auto c = static_cast<unsigned char>(ch);
      // RFC 6531: UTF-8 is allowed in local parts (the sender must then speak SMTPUTF8).
      if (is_alpha(ch) || is_digit(ch) || ch == '.' || c >= 0x80 || kAtextSpecials.find(ch) != std::string_view::npos)
        continue;
      return "has the character " + shown(std::string_view(&ch, 1)) + " in its local part, which needs quoting";
    }
  }
  if (local.size() > 64) return "has a local part longer than 64 bytes (RFC 5321 §4.5.3.1.1)";
  if (dom.front() == '[') {
    if (dom.back() != ']') return "has an unterminated address literal";
    std::string_view lit = dom.substr(1, dom.size() - 2);
    if (istarts_with(lit, "IPv6:")) lit.remove_prefix(5);
    if (!canonical_ip(lit)) return "has an address literal that is not an IP address";
    domain.clear();
    return std::nullopt;
  }
  auto norm = normalize_domain(dom);
  if (!norm) return "has a domain that " + norm.error();
  if (!is_valid_hostname(*norm)) return "has a domain " + shown(dom) + " that is not a valid host name";
  domain = *norm;
  return std::nullopt;
}

enum class UriClass { usable, unsupported, bad };

bool check_mailto(std::string_view uri, std::string_view rest, Sink& sink, RuaUri& out) {
  if (rest.starts_with("//")) {
    sink.error("mailto: takes no \"//\": write mailto:name@example.com, not " + shown(uri));
    return false;
  }
  auto q = rest.find('?');
  std::string_view to = rest.substr(0, q);
  if (to.empty()) {
    sink.error(shown(uri) + " has no address after mailto:");
    return false;
  }
  auto decoded = percent_decode(to);
  if (!decoded) return false;  // reported by the character check
  // RFC 6068 separates several addresses with a raw ",", which TLS-RPT cannot carry
  // (it separates rua URIs), so one mailto: names one address; a %2C is part of it.
  bool ok = true;
  std::string domain;
  if (auto problem = addr_spec_problem(*decoded, domain)) {
    sink.error("the address " + shown(*decoded) + " in " + shown(uri) + " " + *problem);
    ok = false;
  } else if (!domain.empty()) {
    if (auto why = unreachable_reason(domain)) sink.warn("the mail domain of " + shown(uri) + " " + *why);
  } else {
    sink.warn(shown(uri) + " uses an address literal; many senders refuse to mail one");
  }
  if (q != std::string_view::npos)
    sink.warn("the header fields in " + shown(uri) + " (after \"?\") are ignored by most senders");
  out.target = *decoded;
  return ok;
}

bool check_https(std::string_view uri, std::string_view rest, Sink& sink, RuaUri& out) {
  if (!rest.starts_with("//")) {
    sink.error(shown(uri) + " has no host: an https URI reads https://host/path");
    return false;
  }
  auto end = rest.find_first_of("/?#", 2);
  std::string_view authority = rest.substr(2, end == std::string_view::npos ? std::string_view::npos : end - 2);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    sink.warn(shown(uri) + " carries credentials before \"@\": anyone who reads DNS sees them");
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority, port;
  if (authority.starts_with("[")) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) {
      sink.error(shown(uri) + " has an unterminated \"[\" in its host");
      return false;
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        sink.error(shown(uri) + " has text after its \"[...]\" host");
        return false;
      }
      port = after.substr(1);
    }
    if (!canonical_ip(host)) {
      sink.error(shown(uri) + " has a bracketed host that is not an IPv6 address");
      return false;
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (!port.empty() || (authority.size() && authority.back() == ':')) {
    bool digits = !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), is_digit);
    if (!digits || std::stoul(std::string(port)) == 0 || std::stoul(std::string(port)) > 65535) {
      sink.error(shown(uri) + " has an invalid port " + shown(port));
      return false;
    }
  }
  if (host.empty()) {
    sink.error(shown(uri) + " has no host");
    return false;
  }
  if (authority.starts_with("[") || canonical_ip(host)) {
    sink.warn(shown(uri) + " names an IP address instead of a host name");
    out.target = *canonical_ip(host);
    return true;
  }
  auto decoded = percent_decode(host);
  auto norm = decoded ? normalize_domain(*decoded) : std::expected<std::string, std::string>(std::unexpected("bad"));
  if (!norm || !is_valid_hostname(*norm)) {
    sink.error("the host " + shown(host) + " in " + shown(uri) + " is not a valid host name");
    return false;
  }
  if (auto why = unreachable_reason(*norm)) sink.warn("the host of " + shown(uri) + " " + *why);
  out.target = *norm;
  return true;
}

// One tlsrpt-uri. `unsupported` receives the message for a grammatical URI with a
// scheme senders do not deliver to; the caller decides whether it is fatal.
UriClass check_uri(std::string_view uri, Sink& sink, RuaUri& out, std::string& unsupported) {
  out.uri = std::string(uri);
  bool bad = false;
  for (std::size_t i = 0; i < uri.size(); ++i) {
    char c = uri[i];
    if (c == '!') {
      std::string m = "raw \"!\" in " + shown(uri) + " must be written %21 (RFC 8460 §3)";
      // DMARC's rua accepts "!10m" as a size limit; TLS-RPT has no such suffix.
      std::string_view tail = uri.substr(i + 1);
      if (!tail.empty() && std::all_of(tail.begin(), tail.end() - 1, is_digit) &&
          (is_digit(tail.back()) || std::string_view("kmgtKMGT").find(tail.back()) != std::string_view::npos))
        m += "; the DMARC size limit " + shown(uri.substr(i)) + " does not exist in TLS-RPT";
      sink.error(std::move(m));
      bad = true;
    } else if (is_wsp(c)) {
      sink.error("whitespace inside the URI " + shown(uri));
      bad = true;
    } else if (c == '%') {
      if (i + 2 < uri.size() && is_hex(uri[i + 1]) && is_hex(uri[i + 2])) {
        i += 2;
      } else {
        sink.error("bad percent-encoding in " + shown(uri) + ": \"%\" must be followed by two hex digits");
        bad = true;
      }
    } else if (!uri_char(c)) {
      sink.error("the character " + shown(std::string_view(&uri[i], 1)) + " is not allowed in a URI (" + shown(uri) +
                 "): percent-encode it");
      bad = true;
    }
  }
  auto colon = uri.find(':');
  bool scheme_ok = colon != std::string_view::npos && colon > 0 && is_alpha(uri.front());
  for (std::size_t i = 1; scheme_ok && i < colon; ++i)
    scheme_ok = is_alpha(uri[i]) || is_digit(uri[i]) || uri[i] == '+' || uri[i] == '-' || uri[i] == '.';
  if (!scheme_ok) {
    sink.error(shown(uri) + " is not a URI: it has no scheme (use mailto: or https:)");
    return UriClass::bad;
  }
  std::string_view scheme = uri.substr(0, colon);
  out.scheme = ascii_lower(scheme);
  if (bad) return UriClass::bad;
  if (scheme != out.scheme)
    sink.warn("the scheme of " + shown(uri) + " is not lower case: RFC 3986 §3.1 makes schemes case-insensitive, "
              "but some senders compare them literally");
  std::string_view rest = uri.substr(colon + 1);
  if (out.scheme == "mailto") return check_mailto(uri, rest, sink, out) ? UriClass::usable : UriClass::bad;
  if (out.scheme == "https") return check_https(uri, rest, sink, out) ? UriClass::usable : UriClass::bad;
  if (out.scheme == "http")
    unsupported = "senders ignore " + shown(uri) + ": http: is not a TLS-RPT scheme, only mailto: and https: are "
                  "(RFC 8460 §3)";
  else
    unsupported = "senders ignore " + shown(uri) + ": the scheme \"" + out.scheme +
                  ":\" is not supported, only mailto: and https: are (RFC 8460 §3)";
  return UriClass::unsupported;
}

struct Piece {
  std::string_view raw;  // between two ";" (or the ends), whitespace included
  std::size_t offset = 0;
};

// What the first field says about the version.
enum class Version { exact, wrong, absent };

Version check_version_field(std::string_view field, Sink& sink) {
  if (field == kVersionField) return Version::exact;
  auto eq = field.find('=');
  if (eq == std::string_view::npos) return Version::absent;
  std::string_view name_raw = field.substr(0, eq), value_raw = field.substr(eq + 1);
  std::string_view name = trim(name_raw, kWsp), value = trim(value_raw, kWsp);
  if ((name != "v" && name != "V") || !istarts_with(value, "tlsrpt")) return Version::absent;
  if (name_raw != name || value_raw != value) {
    sink.error("whitespace around \"=\" in the version field " + shown(field) + ": write \"v=TLSRPTv1\"");
  } else if (istarts_with(value, "TLSRPTv1") && value.size() > 8) {
    sink.error("\";\" missing after \"v=TLSRPTv1\" in " + shown(field));
  } else if (iequals(value, "TLSRPTv1") || name == "V") {
    sink.error("the version must be written exactly \"v=TLSRPTv1\" (it is case-sensitive), not " + shown(field));
  } else {
    sink.error("unsupported version " + shown(value) + ": the only TLS-RPT version is TLSRPTv1");
  }
  return Version::wrong;
}

bool valid_ext_name(std::string_view name, Sink& sink) {
  if (name.empty()) {
    sink.error("a field has no name before \"=\"");
    return false;
  }
  if (name.size() > 32) {
    sink.error("the field name " + shown(name) + " is " + std::to_string(name.size()) +
               " characters long, more than the 32 RFC 8460 §3 allows");
    return false;
  }
  if (!is_alpha(name.front()) && !is_digit(name.front())) {
    sink.error("the field name " + shown(name) + " must begin with a letter or digit");
    return false;
  }
  for (char c : name)
    if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '-' && c != '.') {
      sink.error("the field name " + shown(name) + " has characters other than letters, digits, \"_\", \"-\" and \".\"");
      return false;
    }
  return true;
}

bool valid_ext_value(std::string_view name, std::string_view value, Sink& sink) {
  // RFC 8460 §3: tlsrpt-ext-value = 1*(%x21-3A / %x3C / %x3E-7E): no "=", ";", SP or CTLs.
  if (value.empty()) {
    sink.error("the field " + shown(name) + " has an empty value");
    return false;
  }
  if (value.find('=') != std::string_view::npos) {
    sink.error("the value of the field " + shown(name) + " contains \"=\", which RFC 8460 §3 does not allow");
    return false;
  }
  if (std::any_of(value.begin(), value.end(), is_wsp)) {
    sink.error("the value of the field " + shown(name) + " contains whitespace, which RFC 8460 §3 does not allow");
    return false;
  }
  return true;  // control and non-ASCII bytes were refused for the whole record
}

// Whether the record is short enough, and not empty, to be read at all.
bool readable_size(std::string_view text, Sink& sink) {
  if (trim(text, kWsp).empty()) {
    sink.error("the record is empty");
    return false;
  }
  if (text.size() > kMaxRecordBytes) {
    sink.error("the record is " + std::to_string(text.size()) + " bytes long, more than the " +
               std::to_string(kMaxRecordBytes) + " this checker reads");
    return false;
  }
  return true;
}

// Whether every byte is printable US-ASCII (the first offender is named) and whether a
// tab, which the grammar allows, is worth a warning.
void check_bytes(std::string_view text, Sink& sink) {
  bool tab = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '\t') tab = true;
    if ((c < 0x20 && c != '\t') || c >= 0x7f) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "byte 0x%02x at offset %zu is not allowed: a record is printable US-ASCII "
                    "(percent-encode other characters inside URIs)",
                    c, i);
      sink.error(buf);
      break;
    }
  }
  if (tab) sink.warn("the record contains a tab: allowed around \";\" and \",\", but easily mangled by DNS web forms");
}

// The record cut at every ";", one trailing ";" set apart.
struct Fields {
  std::vector<Piece> pieces;
  bool trailing_delim = false;
  bool followed_by_delim(std::size_t i) const { return i + 1 < pieces.size() || trailing_delim; }
};

Fields split_fields(std::string_view text) {
  // Every ";" is a field delimiter: neither a URI (RFC 8460 §3: ";" MUST be encoded)
  // nor an ext-value may hold a raw one.
  Fields f;
  for (std::size_t start = 0;;) {
    auto semi = text.find(';', start);
    auto len = semi == std::string_view::npos ? std::string_view::npos : semi - start;
    f.pieces.push_back(Piece{text.substr(start, len), start});
    if (semi == std::string_view::npos) break;
    start = semi + 1;
  }
  // RFC 8460 §3: tlsrpt-record = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
  f.trailing_delim = f.pieces.size() > 1 && trim(f.pieces.back().raw, kWsp).empty();
  if (f.trailing_delim) f.pieces.pop_back();
  return f;
}

// Whether the record was published with its quotes, which makes senders discard it.
bool quoted_by_form(std::string_view text, Sink& sink) {
  // quirk(dns-web-forms): quotes typed into a form that quotes by itself end up in the
  // published text; such a record begins with a literal '"' and senders discard it.
  if (text.front() != '"' || text.find("v=TLSRPTv1") == std::string_view::npos) return false;
  sink.error("the record begins with a quote character: the quotes are part of the published text, most likely "
             "typed into a DNS provider's form that adds its own; remove them");
  return true;
}

// Which piece holds the version (the first one, exactly "v=TLSRPTv1", unless misplaced),
// or none: then this is another kind of TXT record.
std::optional<std::size_t> locate_version(const std::vector<Piece>& pieces, Sink& sink) {
  std::string_view first = pieces.front().raw;
  if (!first.empty() && is_wsp(first.front()))
    sink.error("the record begins with whitespace: it must begin with \"v=TLSRPTv1\"");
  std::size_t version_at = 0;
  if (check_version_field(trim(first, kWsp), sink) == Version::absent) {
    // Perhaps the version is there but not first; otherwise this is another kind of TXT record.
    version_at = pieces.size();
    for (std::size_t i = 1; i < pieces.size(); ++i) {
      RecordCheck scratch;
      Sink scratch_sink{scratch};
      if (check_version_field(trim(pieces[i].raw, kWsp), scratch_sink) != Version::absent) {
        version_at = i;
        break;
      }
    }
    if (version_at == pieces.size()) {
      sink.error("not a TLS-RPT record: it must begin with \"v=TLSRPTv1;\"");
      return std::nullopt;
    }
    sink.error("the version field must come first: the record must begin with \"v=TLSRPTv1;\"");
    check_version_field(trim(pieces[version_at].raw, kWsp), sink);  // and its own faults, if any
  }
  if (pieces.size() > 1 && version_at == 0 && !first.empty() && is_wsp(first.back()))
    sink.warn("whitespace between \"v=TLSRPTv1\" and \";\": the grammar allows it, but senders that look for a "
              "record beginning with \"v=TLSRPTv1;\" (RFC 8460 §3) discard the record; write \"v=TLSRPTv1;\"");
  return version_at;
}

// Whether whitespace closing piece i is allowed (before a ";") or an error (at the end).
void check_trailing_space(const Fields& fields, std::size_t i, Sink& sink) {
  std::string_view raw = fields.pieces[i].raw;
  if (raw.empty() || !is_wsp(raw.back())) return;
  if (!fields.followed_by_delim(i))
    sink.error("whitespace at the end of the record: RFC 8460 §3 allows whitespace only around \";\" and \",\"");
  else if (i > 0)
    sink.warn("whitespace before a \";\": allowed by RFC 8460, but unusual; write \"; \" between fields");
}

// What the fields after the version add up to, for the checks on the whole record.
struct FieldTally {
  std::size_t rua_fields = 0;
  std::vector<std::string> unsupported;  // one message per URI whose scheme senders skip
  bool ws_comma = false;                 // whitespace around a "," in rua=
  bool previous_was_rua = false;         // a field without "=" may be the rest of a URI cut at ";"
};

// Whether one URI of rua= is usable, and not a repeat of an earlier destination.
void add_rua_uri(std::string_view item, RecordCheck& r, Sink& sink, FieldTally& tally) {
  RuaUri u;
  std::string why;
  UriClass cls = check_uri(item, sink, u, why);
  u.usable = cls == UriClass::usable;
  bool dup = std::any_of(r.rua.begin(), r.rua.end(), [&](const RuaUri& o) {
    return o.scheme == u.scheme && o.uri.substr(o.scheme.size()) == u.uri.substr(u.scheme.size());
  });
  if (dup) {
    sink.warn("the destination " + shown(item) + " is listed twice");
  } else {
    r.rua.push_back(std::move(u));
    if (cls == UriClass::unsupported) tally.unsupported.push_back(std::move(why));
  }
}

// Whether the value of rua= is a comma-separated list of URIs with none left empty.
void check_rua_list(std::string_view value, RecordCheck& r, Sink& sink, FieldTally& tally) {
  if (value.empty()) {
    sink.error("rua= is empty: give at least one mailto: or https: URI");
    return;
  }
  // RFC 8460 §3: tlsrpt-rua = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
  std::string_view list = value;
  while (true) {
    auto comma = list.find(',');
    std::string_view item_raw = list.substr(0, comma);
    std::string_view item = trim(item_raw, kWsp);
    if (item_raw != item) tally.ws_comma = true;
    if (item.empty())
      sink.error("empty URI in rua= (two commas in a row, or a comma at the start or end)");
    else
      add_rua_uri(item, r, sink, tally);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// Whether one field after the version is name=value, and what its name makes of it:
// rua=, a repeated or miscased known field, or an extension senders ignore.
void check_field(std::string_view raw, std::size_t i, RecordCheck& r, Sink& sink, FieldTally& tally) {
  std::string_view f = trim(raw, kWsp);
  if (f.empty()) {
    if (i > 0) sink.error("empty field between two \";\" (\";;\" or \"; ;\"): remove the extra \";\"");
    return;
  }
  auto eq = f.find('=');
  if (eq == std::string_view::npos) {
    std::string m = "the field " + shown(f) + " is not name=value";
    if (tally.previous_was_rua) m += ": a \";\" inside a URI must be written %3B";
    sink.error(std::move(m));
    tally.previous_was_rua = false;
    return;
  }
  std::string_view name_raw = f.substr(0, eq), value_raw = f.substr(eq + 1);
  std::string_view name = trim(name_raw, kWsp), value = trim(value_raw, kWsp);
  if (name_raw != name || value_raw != value)
    sink.error("whitespace around \"=\" in " + shown(f) + ": RFC 8460 §3 allows none");
  tally.previous_was_rua = name == "rua";
  if (name == "rua") {
    ++tally.rua_fields;
    check_rua_list(value, r, sink, tally);
  } else if (name == "v" || name == "V") {
    sink.error("the version field appears more than once");
  } else if (iequals(name, "rua")) {
    sink.error(shown(std::string(name) + "=") + " is not \"rua=\": field names are case-sensitive, so senders "
               "see an unknown field and no destination");
  } else if (valid_ext_name(name, sink) && valid_ext_value(name, value, sink)) {
    r.extensions.push_back(RecordExtension{std::string(name), std::string(value)});
    sink.warn("the unknown field " + shown(name) + " is ignored by senders");
  }
}

// What the record as a whole lacks or overdoes: no or repeated rua=, unsupported
// schemes (fatal only with no usable destination left), too many destinations, a
// trailing ";", a length that needs several DNS strings.
void check_whole_record(std::string_view text, RecordCheckOptions opts, bool trailing_delim, const FieldTally& tally,
                        RecordCheck& r, Sink& sink) {
  if (tally.rua_fields == 0)
    sink.error("missing rua= field: senders need at least one destination for reports (RFC 8460 §3)");
  if (tally.rua_fields > 1)
    sink.warn("rua= appears " + std::to_string(tally.rua_fields) + " times: senders that follow the grammar merge "
              "the lists, others use only one or reject the record; put all URIs in one rua= separated by commas");
  if (tally.ws_comma)
    sink.warn("whitespace around \",\" in rua=: allowed by RFC 8460, but some parsers do not expect it");
  bool usable = std::any_of(r.rua.begin(), r.rua.end(), [](const RuaUri& u) { return u.usable; });
  for (const auto& m : tally.unsupported) {
    if (usable) sink.warn(m);
    else sink.error(m);
  }
  if (r.rua.size() > kMaxRecommendedRua)
    sink.warn(std::to_string(r.rua.size()) + " destinations: each sender may deliver every report to each of them, "
              "and some try only the first few; " + std::to_string(kMaxRecommendedRua) + " or fewer is usual");
  if (trailing_delim)
    sink.warn("the record ends with \";\": RFC 8460 allows one, but some parsers expect another field after it");
  if (!opts.from_dns && text.size() > kMaxCharacterString)
    sink.warn("the record is " + std::to_string(text.size()) + " bytes long: one DNS string holds at most 255, "
              "so it must be published as several quoted strings (`tlsrptd record generate --provider bind` "
              "shows how); some DNS web forms split it for you, others truncate or reject it");
}

}  // namespace

RecordCheck check_record(std::string_view text, RecordCheckOptions opts) {
  RecordCheck r;
  Sink sink{r};
  if (!readable_size(text, sink)) return r;
  check_bytes(text, sink);
  if (quoted_by_form(text, sink)) return r;
  const Fields fields = split_fields(text);
  auto version_at = locate_version(fields.pieces, sink);
  if (!version_at) return r;  // another kind of TXT record: nothing more to say
  FieldTally tally;
  for (std::size_t i = 0; i < fields.pieces.size(); ++i) {
    check_trailing_space(fields, i, sink);
    if (i != *version_at) check_field(fields.pieces[i].raw, i, r, sink, tally);
  }
  check_whole_record(text, opts, fields.trailing_delim, tally, r, sink);
  r.valid = r.errors.empty();
  return r;
}

bool is_tlsrpt_record(std::string_view joined) {
  if (!joined.starts_with(kVersionField)) return false;
  std::string_view rest = joined.substr(kVersionField.size());
  while (!rest.empty() && is_wsp(rest.front())) rest.remove_prefix(1);
  return !rest.empty() && rest.front() == ';';
}

RecordSetCheck check_record_set(const std::vector<std::string>& joined_records) {
  RecordSetCheck s;
  std::size_t n = std::min(joined_records.size(), kMaxTxtRecords);
  if (joined_records.size() > n)
    s.warnings.push_back("only the first " + std::to_string(n) + " of " + std::to_string(joined_records.size()) +
                         " TXT records were checked");
  std::vector<std::string> lookalikes;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& rec = joined_records[i];
    if (is_tlsrpt_record(rec)) {
      s.tlsrpt_records.push_back(rec);
    } else {
      s.discarded.push_back(rec);
      // A near miss (a typo in the version, the version not first ...) deserves its
      // reason: it is most likely the admin's attempt at the record.
      if (ascii_lower(rec).find("tlsrpt") != std::string::npos) {
        RecordCheck c = check_record(rec, RecordCheckOptions{.from_dns = true});
        std::string why;
        for (const auto& e : c.errors) why += (why.empty() ? "" : "; ") + e;
        if (why.empty()) why = "it does not begin with \"v=TLSRPTv1;\"";
        lookalikes.push_back("senders discard the TXT record " + shown(rec) +
                             ", which looks like TLS-RPT but does not begin with \"v=TLSRPTv1;\": " + why);
      }
    }
  }
  if (s.tlsrpt_records.size() == 1) {
    s.check = check_record(s.tlsrpt_records.front(), RecordCheckOptions{.from_dns = true});
    s.errors = s.check.errors;
    s.warnings.insert(s.warnings.end(), s.check.warnings.begin(), s.check.warnings.end());
    for (auto& m : lookalikes) s.warnings.push_back(std::move(m));
  } else {
    if (s.tlsrpt_records.empty())
      s.errors.push_back("no TXT record begins with \"v=TLSRPTv1;\": senders conclude the domain does not use "
                         "TLS-RPT and send no reports");
    else
      s.errors.push_back(std::to_string(s.tlsrpt_records.size()) +
                         " TXT records begin with \"v=TLSRPTv1;\": senders then assume the domain does not use "
                         "TLS-RPT and send no reports (RFC 8460 §3); merge them into one record");
    for (auto& m : lookalikes) s.errors.push_back(std::move(m));
  }
  s.valid = s.errors.empty();
  return s;
}

// ---- generate ---------------------------------------------------------------------

namespace {

void append_pct(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.push_back('%');
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 15]);
}

// Percent-encodes what a TLS-RPT URI cannot hold raw ("," "!" ";" per RFC 8460 §3,
// whitespace, controls, non-ASCII, and characters outside RFC 3986), keeping valid
// %HH escapes as they are.
std::string encode_uri_text(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '%' && i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
      out.append(s.substr(i, 3));
      i += 2;
    } else if (c != '%' && uri_char(static_cast<char>(c))) {
      out.push_back(static_cast<char>(c));
    } else {
      append_pct(out, c);
    }
  }
  return out;
}

// A decoded mailto local part, encoded for RFC 6068 `to`: only characters that are
// safe in every position stay raw.
std::string encode_local_part(std::string_view s) {
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (is_alpha(ch) || is_digit(ch) || std::string_view("-._~+=$'*&").find(ch) != std::string_view::npos)
      out.push_back(ch);
    else
      append_pct(out, c);
  }
  return out;
}

std::expected<std::string, std::string> generate_mailto(std::string_view input, std::string_view rest) {
  if (rest.starts_with("//")) return std::unexpected(shown(input) + ": mailto: takes no \"//\": write mailto:name@example.com");
  auto q = rest.find('?');
  std::string_view to = rest.substr(0, q);
  if (to.empty()) return std::unexpected(shown(input) + ": no address after mailto:");
  auto decoded = percent_decode(to);
  if (!decoded) return std::unexpected(shown(input) + ": bad percent-encoding");
  std::string_view addr = *decoded;
  std::string domain;
  if (auto problem = addr_spec_problem(addr, domain))
    return std::unexpected(shown(input) + ": the address " + shown(addr) + " " + *problem);
  if (domain.empty()) return std::unexpected(shown(input) + ": use a domain name, not an address literal");
  // A-label: an IDN mail domain is written as xn--.
  std::string out = "mailto:" + encode_local_part(addr.substr(0, addr.rfind('@'))) + "@" + domain;
  if (q != std::string_view::npos) out += "?" + encode_uri_text(rest.substr(q + 1));
  return out;
}

std::expected<std::string, std::string> generate_https(std::string_view input, std::string_view rest) {
  if (!rest.starts_with("//")) return std::unexpected(shown(input) + ": an https URI reads https://host/path");
  auto end = rest.find_first_of("/?#", 2);
  std::string_view authority = rest.substr(2, end == std::string_view::npos ? std::string_view::npos : end - 2);
  std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos)
    return std::unexpected(shown(input) + ": credentials in the URI would be published in DNS for anyone to read");
  std::string_view host = authority, port;
  if (authority.starts_with("["))
    return std::unexpected(shown(input) + ": use a host name, not an IP address (its certificate must match it)");
  if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    bool digits = !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), is_digit);
    if (!digits || std::stoul(std::string(port)) == 0 || std::stoul(std::string(port)) > 65535)
      return std::unexpected(shown(input) + ": invalid port " + shown(port));
  }
  if (host.empty()) return std::unexpected(shown(input) + ": no host after https://");
  if (canonical_ip(host))
    return std::unexpected(shown(input) + ": use a host name, not an IP address (its certificate must match it)");
  auto decoded = percent_decode(host);
  if (!decoded) return std::unexpected(shown(input) + ": bad percent-encoding in the host");
  auto norm = normalize_domain(*decoded);
  if (!norm) return std::unexpected(shown(input) + ": the host " + norm.error());
  if (!is_valid_hostname(*norm)) return std::unexpected(shown(input) + ": the host " + shown(host) + " is not a valid host name");
  std::string out = "https://" + *norm;
  if (!port.empty()) out += ":" + std::string(port);
  out += encode_uri_text(tail);
  return out;
}

std::expected<std::string, std::string> generate_uri(std::string_view input, std::vector<std::string>& notes) {
  std::string_view s = trim(input, kWsp);
  if (s.empty()) return std::unexpected(std::string("an empty rua was given"));
  auto colon = s.find(':');
  auto at = s.find('@');
  bool scheme_ok = colon != std::string_view::npos && colon > 0 && is_alpha(s.front());
  for (std::size_t i = 1; scheme_ok && i < colon; ++i)
    scheme_ok = is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.';
  if (!scheme_ok || (at != std::string_view::npos && at < colon)) {
    // "tlsrpt@example.com": an admin means mailto:, and says so in nothing else.
    if (at != std::string_view::npos) {
      notes.push_back(shown(s) + " has no scheme and was taken as mailto:" + std::string(s));
      return generate_mailto(input, s);
    }
    return std::unexpected(shown(s) + " is not a URI: give mailto:address or https://host/path");
  }
  std::string scheme = ascii_lower(s.substr(0, colon));
  std::string_view rest = s.substr(colon + 1);
  if (scheme == "mailto") return generate_mailto(input, rest);
  if (scheme == "https") return generate_https(input, rest);
  if (scheme == "http")
    return std::unexpected(shown(s) + ": http: is not allowed: RFC 8460 §3 supports only mailto: and https:, "
                           "so senders would ignore it (use https://)");
  return std::unexpected(shown(s) + ": the scheme \"" + scheme + ":\" is not supported: RFC 8460 §3 supports only "
                         "mailto: and https:");
}

}  // namespace

std::expected<GeneratedRecord, std::vector<std::string>> generate_record(std::string_view domain,
                                                                         const std::vector<std::string>& ruas) {
  GeneratedRecord rec;
  std::vector<std::string> errors;
  std::string_view d = trim(domain, kWsp);
  if (istarts_with(d, "_smtp._tls.")) {
    d.remove_prefix(11);
    rec.warnings.push_back("the domain was given with its \"_smtp._tls.\" prefix; it is added for you");
  }
  if (d.empty()) {
    errors.push_back("no domain given");
  } else if (canonical_ip(d) || (d.starts_with("[") && d.ends_with("]"))) {
    errors.push_back("the domain " + shown(d) + " is an IP address: give the mail domain, e.g. example.com");
  } else if (d.find('@') != std::string_view::npos) {
    errors.push_back("the domain " + shown(d) + " looks like an email address: give only the part after \"@\"");
  } else if (auto norm = normalize_domain(d); !norm) {
    errors.push_back("the domain " + shown(d) + " " + norm.error());
  } else if (!is_valid_hostname(*norm)) {
    errors.push_back("the domain " + shown(d) +
                     " is not a valid domain name (letters, digits and hyphens in dot-separated labels of at most "
                     "63 characters, 253 in all)");
  } else if (norm->find('.') == std::string::npos) {
    errors.push_back("the domain " + shown(d) + " has no dot: give the full mail domain, e.g. example.com");
  } else {
    rec.domain = *norm;
    rec.host = "_smtp._tls." + rec.domain;
  }

  if (ruas.empty()) errors.push_back("no rua given: name at least one mailto: or https: destination for reports");
  for (const auto& in : ruas) {
    auto uri = generate_uri(in, rec.warnings);
    if (!uri) {
      errors.push_back(uri.error());
      continue;
    }
    if (std::find(rec.rua.begin(), rec.rua.end(), *uri) != rec.rua.end()) {
      rec.warnings.push_back(shown(*uri) + " was given twice; it is listed once");
      continue;
    }
    rec.rua.push_back(std::move(*uri));
  }
  if (!errors.empty()) return std::unexpected(std::move(errors));

  rec.value = "v=TLSRPTv1; rua=";
  for (std::size_t i = 0; i < rec.rua.size(); ++i) rec.value += (i ? "," : "") + rec.rua[i];
  // The generator's own output must pass the checker; its warnings (reserved
  // domains, many destinations, length) are passed on.
  RecordCheck check = check_record(rec.value);
  if (!check.valid) return std::unexpected(std::move(check.errors));
  for (auto& w : check.warnings)
    if (std::find(rec.warnings.begin(), rec.warnings.end(), w) == rec.warnings.end()) rec.warnings.push_back(std::move(w));
  return rec;
}

std::vector<std::string> split_character_strings(std::string_view value, std::size_t max) {
  std::vector<std::string> out;
  if (max == 0) max = kMaxCharacterString;
  do {
    out.emplace_back(value.substr(0, max));
    value.remove_prefix(std::min(max, value.size()));
  } while (!value.empty());
  return out;
}

std::string bind_zone_line(const GeneratedRecord& rec, std::uint32_t ttl) {
  std::string line = rec.host + ". " + std::to_string(ttl) + " IN TXT";
  for (const auto& part : split_character_strings(rec.value)) {
    line += " \"";
    for (char ch : part) {
      auto c = static_cast<unsigned char>(ch);
      if (ch == '"' || ch == '\\') {
        line.push_back('\\');
        line.push_back(ch);
      } else if (c < 0x20 || c >= 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\%03u", c);  // RFC 1035 §5.1 \DDD
        line += buf;
      } else {
        line.push_back(ch);
      }
    }
    line += "\"";
  }
  return line;
}

}  // namespace tlsrpt
