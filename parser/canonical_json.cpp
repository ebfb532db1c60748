#include "parser/canonical_json.hpp"

#include <openssl/evp.h>

#include "parser/datetime.hpp"
#include "parser/json_writer.hpp"

namespace tlsrpt {
namespace {

void opt_member(JsonWriter& w, std::string_view key, const std::optional<std::string>& v) {
  if (v) w.member(key, std::string_view(*v));
}

void string_array(JsonWriter& w, const std::vector<std::string>& v) {
  w.begin_array();
  for (const auto& s : v) w.value(std::string_view(s));
  w.end_array();
}

}  // namespace

void write_canonical_json(std::string& out, const Report& r) {
  JsonWriter w(out, false);  // exact bytes: the content hash of stored reports
  w.begin_object();
  w.member("organization-name", std::string_view(r.organization_name));
  w.key("date-range").begin_object();
  w.member("start-datetime", std::string_view(format_rfc3339(r.date_range.start)));
  w.member("end-datetime", std::string_view(format_rfc3339(r.date_range.end)));
  w.end_object();
  opt_member(w, "contact-info", r.contact_info);
  w.member("report-id", std::string_view(r.report_id));
  w.key("policies").begin_array();
  for (const auto& p : r.policies) {
    w.begin_object();
    w.key("policy").begin_object();
    w.member("policy-type", p.policy.type.token());
    w.key("policy-string");
    string_array(w, p.policy.strings);
    w.member("policy-domain", std::string_view(p.policy.domain));
    if (!p.policy.mx_hosts.empty()) {
      w.key("mx-host");
      string_array(w, p.policy.mx_hosts);
    }
    w.end_object();
    w.key("summary").begin_object();
    w.member("total-successful-session-count", p.summary.successful);
    w.member("total-failure-session-count", p.summary.failed);
    w.end_object();
    w.key("failure-details").begin_array();
    for (const auto& f : p.failures) {
      w.begin_object();
      w.member("result-type", f.result_type.token());
      opt_member(w, "sending-mta-ip", f.sending_mta_ip);
      opt_member(w, "receiving-mx-hostname", f.receiving_mx_hostname);
      opt_member(w, "receiving-mx-helo", f.receiving_mx_helo);
      opt_member(w, "receiving-ip", f.receiving_ip);
      w.member("failed-session-count", f.failed_session_count);
      opt_member(w, "additional-information", f.additional_information);
      opt_member(w, "failure-reason-code", f.failure_reason_code);
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

std::string to_canonical_json(const Report& r) {
  std::string out;
  out.reserve(1024);
  write_canonical_json(out, r);
  return out;
}

std::string notes_to_json(const std::vector<Note>& notes) {
  std::string out;
  JsonWriter w(out);
  w.begin_array();
  for (const auto& n : notes) {
    w.begin_object();
    w.member("code", std::string_view(n.code));
    w.member("where", std::string_view(n.where));
    w.member("detail", std::string_view(n.detail));
    w.end_object();
  }
  w.end_array();
  return out;
}

namespace {

// OpenSSL 3 looks the implementation of a legacy EVP_sha256() up in the provider
// store (under a lock) on every digest; fetch it once. Same digest either way.
const EVP_MD* sha256_md() {
  static const EVP_MD* const md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched ? fetched : EVP_sha256();
  }();
  return md;
}

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, sha256_md(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (unsigned i = 0; i < len; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 15];
  }
  return out;
}

std::string report_day(const Report& r) { return format_date(r.date_range.start); }

}  // namespace tlsrpt
