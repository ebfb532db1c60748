// The inspection: one TXT lookup decides the verdict, a few more (placement hints,
// MTA-STS, MX, TLSA) explain it. Every name queried is built from a validated domain
// or a validated MX host; DNS data only ever ends up in result fields.
#include "record/record_inspect.hpp"

#include <algorithm>

#include "parser/domain.hpp"
#include "parser/json_writer.hpp"
#include "parser/org_domain.hpp"

namespace tlsrpt::record {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string with_detail(DnsStatus s, const std::string& detail) {
  if (detail == "skipped") return "skipped, the inspection ran out of time";
  std::string m(describe(s));
  // c-ares' own words repeat describe() except for the deadline and odd failures.
  if (!detail.empty() && (s == DnsStatus::timeout || s == DnsStatus::error)) m += " (" + detail + ")";
  return m;
}

bool any_tlsrpt(const DnsAnswer<TxtRecord>& a) {
  return std::any_of(a.records.begin(), a.records.end(),
                     [](const TxtRecord& t) { return t.joined.starts_with("v=TLSRPTv1"); });
}

void write_strings(JsonWriter& w, std::string_view key, const std::vector<std::string>& v) {
  w.key(key).begin_array();
  for (const auto& s : v) w.value(std::string_view(s));
  w.end_array();
}

void write_rua(JsonWriter& w, const RecordCheck& c) {
  w.key("rua").begin_array();
  for (const auto& u : c.rua) {
    w.begin_object();
    w.member("uri", std::string_view(u.uri));
    w.member("scheme", std::string_view(u.scheme));
    w.member("target", std::string_view(u.target));
    w.member("usable", u.usable);
    w.end_object();
  }
  w.end_array();
  w.key("extensions").begin_array();
  for (const auto& e : c.extensions) {
    w.begin_object();
    w.member("name", std::string_view(e.name));
    w.member("value", std::string_view(e.value));
    w.end_object();
  }
  w.end_array();
}

}  // namespace

std::expected<std::string, std::string> validate_inspect_domain(std::string_view in) {
  if (in.size() > kMaxDomainInput) return std::unexpected(std::string("the name is far too long for a domain"));
  while (!in.empty() && is_space(in.front())) in.remove_prefix(1);
  while (!in.empty() && is_space(in.back())) in.remove_suffix(1);
  if (in.empty()) return std::unexpected(std::string("enter a domain name, e.g. example.com"));
  if (in.find("://") != std::string_view::npos)
    return std::unexpected(std::string("enter only the domain name, not a URL"));
  if (in.find('@') != std::string_view::npos)
    return std::unexpected(std::string("enter only the domain (the part after \"@\"), not an email address"));
  if (in.front() == '[' || canonical_ip(in) || in.find(':') != std::string_view::npos)
    return std::unexpected(std::string("an IP address is not a domain name: enter the mail domain, e.g. example.com"));
  if (in.size() > 11 && ascii_lower(in.substr(0, 11)) == "_smtp._tls.") in.remove_prefix(11);
  auto norm = normalize_domain(in);
  if (!norm) return std::unexpected("not a valid domain name: " + norm.error());
  const std::string& d = *norm;
  if (d.empty()) return std::unexpected(std::string("enter a domain name, e.g. example.com"));
  if (d.size() > 253) return std::unexpected("the name is " + std::to_string(d.size()) + " characters long, more than the 253 DNS allows");
  std::size_t labels = 0;
  for (std::size_t start = 0;;) {
    auto dot = d.find('.', start);
    std::string_view label = std::string_view(d).substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    ++labels;
    if (label.empty()) return std::unexpected(std::string("the name has an empty label (two dots in a row, or a leading dot)"));
    if (label.size() > 63)
      return std::unexpected("a label is " + std::to_string(label.size()) + " characters long, more than the 63 DNS allows");
    for (char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
        return std::unexpected(std::string("labels may hold only letters, digits and hyphens (no \"_\", spaces or punctuation)"));
    if (label.front() == '-' || label.back() == '-')
      return std::unexpected(std::string("a label cannot begin or end with a hyphen"));
    if (dot == std::string::npos) {
      if (std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::unexpected(std::string("an IP address is not a domain name: enter the mail domain, e.g. example.com"));
      break;
    }
    start = dot + 1;
  }
  if (labels < 2) return std::unexpected(std::string("enter a full domain name, e.g. example.com"));
  return d;
}

std::optional<std::string> private_name_refusal(std::string_view domain) {
  auto under = [&](std::string_view tld) {
    return domain == tld || (domain.size() > tld.size() && domain.ends_with(tld) &&
                             domain[domain.size() - tld.size() - 1] == '.');
  };
  if (under("arpa") || under("onion") || !under_listed_public_suffix(domain))
    return std::string("this site inspects only public domain names, under a suffix of the public suffix list "
                       "(publicsuffix.org); internal and special-use names are not looked up");
  return std::nullopt;
}

void judge_mta_sts(MtaStsLook& m) {
  m.valid = false;
  m.id.clear();
  m.problems.clear();
  if (m.status != DnsStatus::answer) return;
  // RFC 8461 §3.1: records not beginning with "v=STSv1;" are discarded; exactly one must remain.
  std::vector<std::string_view> kept;
  for (const auto& rec : m.records)
    if (rec.starts_with("v=STSv1;")) kept.push_back(rec);
  if (kept.empty()) {
    if (std::any_of(m.records.begin(), m.records.end(),
                    [](const std::string& r) { return ascii_lower(r).find("stsv1") != std::string::npos; }))
      m.problems.push_back("the TXT record at " + m.name + " does not begin with \"v=STSv1;\", so senders ignore it");
    return;
  }
  if (kept.size() > 1) {
    m.problems.push_back(std::to_string(kept.size()) + " TXT records at " + m.name +
                         " begin with \"v=STSv1;\": senders then assume there is no MTA-STS policy (RFC 8461 §3.1)");
    return;
  }
  // sts-id = %s"id=" 1*32(ALPHA / DIGIT)
  std::string_view rec = kept.front();
  std::size_t ids = 0;
  for (std::size_t start = 0; start <= rec.size();) {
    auto semi = rec.find(';', start);
    std::string_view f = rec.substr(start, semi == std::string_view::npos ? std::string_view::npos : semi - start);
    while (!f.empty() && (f.front() == ' ' || f.front() == '\t')) f.remove_prefix(1);
    while (!f.empty() && (f.back() == ' ' || f.back() == '\t')) f.remove_suffix(1);
    if (f.starts_with("id=")) {
      ++ids;
      std::string_view v = f.substr(3);
      bool ok = !v.empty() && v.size() <= 32 && std::all_of(v.begin(), v.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      });
      if (ok) m.id = std::string(v);
      else m.problems.push_back("the id= at " + m.name + " must be 1 to 32 letters and digits");
    }
    if (semi == std::string_view::npos) break;
    start = semi + 1;
  }
  if (ids == 0) m.problems.push_back("the MTA-STS record at " + m.name + " has no id= field, so senders ignore it");
  if (ids > 1) m.problems.push_back("the MTA-STS record at " + m.name + " has more than one id= field");
  m.valid = m.problems.empty() && !m.id.empty();
}

void judge_rollout(InspectResult& r) {
  if (r.dns_failed()) {
    r.stage = "unknown";
    r.summary = "DNS could not answer, so it is unknown what senders see. Try again, or check the DNS server "
                "(--resolver, or [dns] servers in the configuration).";
    return;
  }
  const bool tlsrpt = r.set.valid;
  const bool sts = r.mta_sts.valid;
  std::size_t with_tlsa = static_cast<std::size_t>(
      std::count_if(r.mx.begin(), r.mx.end(), [](const MxLook& m) { return !m.tlsa.empty(); }));
  const bool dane = with_tlsa > 0;
  if (!tlsrpt) {
    r.stage = "none";
    if (!r.set.tlsrpt_records.empty())
      r.summary = "A TLS-RPT record is published, but senders cannot use it (see the errors above), so no reports "
                  "are sent. Fix it (tlsrptd record generate writes a correct one), then check again.";
    else if (sts || dane)
      r.summary = std::string("No working TLS-RPT record, although ") +
                  (sts && dane ? "MTA-STS and DANE are" : sts ? "MTA-STS is" : "DANE is") +
                  " in place: senders apply your policy, but nobody tells you when their deliveries fail. Fix the "
                  "TLS-RPT record first (tlsrptd record generate).";
    else
      r.summary = "No TLS-RPT yet. Start here: publish the record (tlsrptd record generate), watch the reports for a "
                  "few days, then publish MTA-STS in mode \"testing\", and switch it to \"enforce\" once the reports "
                  "are clean.";
    return;
  }
  if (!sts && !dane) {
    r.stage = "tlsrpt";
    r.summary = "TLS-RPT only: reports will arrive, but without MTA-STS or DANE they mostly say that no policy was "
                "found. Next: publish an MTA-STS policy in mode \"testing\", then switch it to \"enforce\" once the "
                "reports show no failures.";
    return;
  }
  r.stage = std::string("tlsrpt") + (sts ? "+mta-sts" : "") + (dane ? "+dane" : "");
  std::string s = std::string("TLS-RPT with ") + (sts && dane ? "MTA-STS and DANE" : sts ? "MTA-STS" : "DANE") + ".";
  if (sts)
    s += " MTA-STS is announced (id " + r.mta_sts.id + "); this tool does not fetch the policy, so check its mode at "
         "https://mta-sts." + r.domain + "/.well-known/mta-sts.txt: keep \"testing\" until the reports show no "
         "failures, then \"enforce\".";
  if (dane) {
    if (with_tlsa == r.mx.size())
      s += " Every MX host has TLSA records.";
    else
      s += " " + std::to_string(with_tlsa) + " of " + std::to_string(r.mx.size()) +
           " MX hosts have TLSA records; the others get no DANE protection.";
    s += " DANE works only in a DNSSEC-signed zone, which this check does not verify.";
  }
  r.summary = std::move(s);
}

std::string inspect_headline(const InspectResult& r) {
  if (r.dns_failed()) return "DNS could not answer";
  if (r.valid()) return "valid TLS-RPT record";
  if (r.set.tlsrpt_records.empty()) return "no TLS-RPT record";
  if (r.set.tlsrpt_records.size() > 1)
    return std::to_string(r.set.tlsrpt_records.size()) + " TLS-RPT records, so senders use none";
  return "invalid TLS-RPT record";
}

std::string_view stage_label(std::string_view stage) {
  if (stage == "none") return "no TLS-RPT yet";
  if (stage == "tlsrpt") return "TLS-RPT only";
  if (stage == "tlsrpt+mta-sts") return "TLS-RPT with MTA-STS";
  if (stage == "tlsrpt+dane") return "TLS-RPT with DANE";
  if (stage == "tlsrpt+mta-sts+dane") return "TLS-RPT with MTA-STS and DANE";
  return "unknown";
}

namespace {

// The inspection's time budget, asked before each look-around query; once it is spent,
// the remaining queries are skipped and cut() says so.
class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds budget) : at_(std::chrono::steady_clock::now() + budget) {}
  bool time_left() {
    if (!cut_ && std::chrono::steady_clock::now() >= at_) cut_ = true;
    return !cut_;
  }
  bool cut() const { return cut_; }

 private:
  std::chrono::steady_clock::time_point at_;
  bool cut_ = false;
};

// What a look-around query left unasked for lack of time reads like.
template <class T>
DnsAnswer<T> skipped() {
  return DnsAnswer<T>{DnsStatus::timeout, {}, "skipped"};
}

// Whether DNS answered the verdict's own TXT lookup at r.name; when it did not, the
// error says so and nothing more can be concluded.
bool look_up_record(DnsResolver& resolver, InspectResult& r) {
  auto txt = resolver.txt(r.name);
  r.status = txt.status;
  r.detail = txt.detail;
  r.txt = std::move(txt.records);
  if (!r.dns_failed()) return true;
  r.errors.push_back("could not look up the TXT records at " + r.name + ": " + with_detail(r.status, r.detail));
  return false;
}

// What a sender makes of the TXT records found: the record-set check, with "no record"
// told in DNS terms (NXDOMAIN, or no TXT record at all).
void judge_record_set(InspectResult& r) {
  std::vector<std::string> joined;
  for (const auto& t : r.txt) joined.push_back(t.joined);
  r.set = check_record_set(joined);
  r.errors = r.set.errors;
  r.warnings = r.set.warnings;
  if (r.set.tlsrpt_records.empty() && r.status != DnsStatus::answer && !r.errors.empty()) {
    r.errors.front() = "no TLS-RPT record: " + r.name +
                       (r.status == DnsStatus::nxdomain ? " does not exist (NXDOMAIN)" : " has no TXT record") +
                       ", so senders conclude the domain does not use TLS-RPT and send no reports";
  }
}

// Whether a missing record was published in a wrong place: the domain itself, the
// early draft's name, or the parent domain.
void find_misplaced_record(DnsResolver& resolver, InspectResult& r, Deadline& deadline) {
  // Notes §6.1 30, 31: a record in the wrong place, or only at the parent, counts for nothing.
  const std::string& domain = r.domain;
  if (deadline.time_left() && any_tlsrpt(resolver.txt(domain)))
    r.errors.push_back("a TLS-RPT record is published at " + domain + " itself; it must be at " + r.name);
  if (deadline.time_left() && any_tlsrpt(resolver.txt("_smtp-tlsrpt." + domain)))
    r.errors.push_back("a TLS-RPT record is published at _smtp-tlsrpt." + domain +
                       ", the name of an early draft; it must be at " + r.name);
  if (std::count(domain.begin(), domain.end(), '.') >= 2) {
    std::string parent = domain.substr(domain.find('.') + 1);
    if (deadline.time_left() && any_tlsrpt(resolver.txt("_smtp._tls." + parent)))
      r.errors.push_back("_smtp._tls." + parent + " has a TLS-RPT record, but records are not inherited: " + domain +
                         " needs its own (RFC 8460 has no fallback to a parent domain)");
  }
}

// Whether the domain announces an MTA-STS policy senders accept.
void look_at_mta_sts(DnsResolver& resolver, InspectResult& r, Deadline& deadline) {
  r.mta_sts.name = "_mta-sts." + r.domain;
  auto sts = deadline.time_left() ? resolver.txt(r.mta_sts.name) : skipped<TxtRecord>();
  r.mta_sts.status = sts.status;
  r.mta_sts.detail = sts.detail;
  for (const auto& t : sts.records) r.mta_sts.records.push_back(t.joined);
  judge_mta_sts(r.mta_sts);
  if (lookup_failed(sts.status))
    r.warnings.push_back("could not look up " + r.mta_sts.name + ": " + with_detail(sts.status, sts.detail));
  for (const auto& p : r.mta_sts.problems) r.warnings.push_back(p);
}

// Which hosts receive the domain's mail (the MX hosts, the domain itself without MX,
// none with a null MX), at most kMaxMxInspected of them.
std::vector<MxRecord> mail_hosts(DnsResolver& resolver, InspectResult& r, Deadline& deadline) {
  const std::string& domain = r.domain;
  auto mx = deadline.time_left() ? resolver.mx(domain) : skipped<MxRecord>();
  r.mx_status = mx.status;
  r.mx_detail = mx.detail;
  std::vector<MxRecord> hosts;
  if (mx.status == DnsStatus::answer) {
    if (mx.records.size() == 1 && mx.records.front().host.empty()) {
      r.null_mx = true;
      r.warnings.push_back(domain + " publishes a null MX (RFC 7505): it accepts no mail, so senders have nothing "
                           "to report about");
    } else {
      hosts = std::move(mx.records);
    }
  } else if (mx.status == DnsStatus::nodata) {
    r.implicit_mx = true;  // RFC 5321 §5.1: mail goes to the domain's own A/AAAA
    hosts.push_back(MxRecord{0, domain});
  } else if (mx.status == DnsStatus::nxdomain) {
    r.warnings.push_back(domain + " does not exist in DNS (NXDOMAIN): no mail can be delivered to it");
  } else {
    r.warnings.push_back("could not look up the MX records of " + domain + ": " + with_detail(mx.status, mx.detail));
  }
  if (hosts.size() > kMaxMxInspected) {
    r.warnings.push_back(domain + " has " + std::to_string(hosts.size()) +
                         " MX records; TLSA was looked up for the first " + std::to_string(kMaxMxInspected));
    hosts.resize(kMaxMxInspected);
  }
  return hosts;
}

// Whether one mail host is a valid host name, and which TLSA records (DANE) it has.
MxLook look_at_mail_host(DnsResolver& resolver, const MxRecord& h, std::vector<std::string>& warnings,
                         Deadline& deadline, bool public_names_only) {
  MxLook look;
  look.preference = h.preference;
  look.host = ascii_lower(h.host);
  if (!is_valid_hostname(look.host, /*allow_underscore=*/false) || h.host.empty()) {
    look.tlsa_status = DnsStatus::error;
    look.tlsa_detail = "not a valid host name";
    warnings.push_back("an MX record names an invalid host; senders cannot deliver there");
    return look;
  }
  // RFC 7672 §2.2.3: TLSA records for SMTP live at _25._tcp.<MX host>.
  look.tlsa_name = "_25._tcp." + look.host;
  if (public_names_only && private_name_refusal(look.host)) {
    look.not_public = true;
    look.tlsa_detail = "not looked up (not a public name)";
    warnings.push_back("an MX host is not a public name, so its TLSA records were not looked up (this site looks up "
                       "public names only)");
    return look;
  }
  auto tlsa = deadline.time_left() ? resolver.tlsa(look.tlsa_name) : skipped<TlsaRecord>();
  look.tlsa_status = tlsa.status;
  look.tlsa_detail = tlsa.detail;
  for (const auto& t : tlsa.records) look.tlsa.push_back(t.text());
  if (lookup_failed(tlsa.status))
    warnings.push_back("could not look up " + look.tlsa_name + ": " + with_detail(tlsa.status, tlsa.detail));
  return look;
}

}  // namespace

std::string tlsa_absence(const MxLook& m) {
  if (m.not_public) return m.tlsa_detail;
  return std::string(describe(m.tlsa_status));
}

InspectResult inspect_domain(DnsResolver& resolver, const std::string& domain, std::chrono::milliseconds budget,
                             bool public_names_only) {
  Deadline deadline(budget);
  resolver.stop_at(std::chrono::steady_clock::now() + budget);  // no query outlives the budget either
  InspectResult r;
  r.domain = domain;
  r.name = "_smtp._tls." + domain;
  if (!look_up_record(resolver, r)) {
    judge_rollout(r);
    return r;
  }
  judge_record_set(r);
  // Each look-around query asks the deadline first; the verdict itself never depends on them.
  if (r.set.tlsrpt_records.empty()) find_misplaced_record(resolver, r, deadline);
  r.looked_around = true;
  look_at_mta_sts(resolver, r, deadline);
  for (const auto& h : mail_hosts(resolver, r, deadline))
    r.mx.push_back(look_at_mail_host(resolver, h, r.warnings, deadline, public_names_only));
  if (deadline.cut())
    r.warnings.push_back("the look-around was cut short after " + std::to_string(budget.count() / 1000) +
                         " s; the lookups marked timeout were skipped");
  judge_rollout(r);
  return r;
}

std::string check_json(std::string_view record, const RecordCheck& c) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.member("valid", c.valid);
  w.member("record", record);
  write_rua(w, c);
  write_strings(w, "errors", c.errors);
  write_strings(w, "warnings", c.warnings);
  w.end_object();
  return out;
}

std::string generate_json(const GeneratedRecord& g) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.member("host", std::string_view(g.host));
  w.member("type", std::string_view(g.type));
  w.member("value", std::string_view(g.value));
  w.end_object();
  return out;
}

std::string errors_json(const std::vector<std::string>& errors) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  write_strings(w, "errors", errors);
  w.end_object();
  return out;
}

std::string inspect_json(const InspectResult& r) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.member("domain", std::string_view(r.domain));
  w.member("name", std::string_view(r.name));
  w.member("status", to_token(r.status));
  w.member("detail", std::string_view(r.detail));
  w.member("valid", r.valid());
  w.key("records").begin_array();
  for (const auto& t : r.txt) w.value(std::string_view(t.joined));
  w.end_array();
  w.key("strings").begin_array();  // each record's character-strings as published
  for (const auto& t : r.txt) {
    w.begin_array();
    for (const auto& s : t.strings) w.value(std::string_view(s));
    w.end_array();
  }
  w.end_array();
  write_strings(w, "tlsrpt_records", r.set.tlsrpt_records);
  write_strings(w, "discarded", r.set.discarded);
  write_rua(w, r.set.check);
  write_strings(w, "errors", r.errors);
  write_strings(w, "warnings", r.warnings);
  if (r.looked_around) {
    w.key("mta_sts").begin_object();
    w.member("name", std::string_view(r.mta_sts.name));
    w.member("status", to_token(r.mta_sts.status));
    write_strings(w, "records", r.mta_sts.records);
    w.key("id");
    if (r.mta_sts.id.empty()) w.null(); else w.value(std::string_view(r.mta_sts.id));
    w.member("valid", r.mta_sts.valid);
    w.end_object();
    w.key("mx").begin_object();
    w.member("status", to_token(r.mx_status));
    w.member("implicit", r.implicit_mx);
    w.member("null_mx", r.null_mx);
    w.key("hosts").begin_array();
    for (const auto& m : r.mx) {
      w.begin_object();
      w.member("host", std::string_view(m.host));
      w.member("preference", static_cast<int>(m.preference));
      w.member("tlsa_name", std::string_view(m.tlsa_name));
      w.member("tlsa_status", m.not_public ? std::string_view("not_public") : to_token(m.tlsa_status));
      write_strings(w, "tlsa", m.tlsa);
      w.end_object();
    }
    w.end_array();
    w.end_object();
  } else {
    w.key("mta_sts").null();
    w.key("mx").null();
  }
  w.key("rollout").begin_object();
  w.member("stage", std::string_view(r.stage));
  w.member("summary", std::string_view(r.summary));
  w.end_object();
  w.end_object();
  return out;
}

}  // namespace tlsrpt::record
