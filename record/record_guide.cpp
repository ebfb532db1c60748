// Provider instructions as they looked in the providers' panels when written; where a
// panel is renamed, only the text here changes. Never includes untrusted input other
// than the generated record, which the generator has already validated.
#include "record/record_guide.hpp"

namespace tlsrpt::record {

std::optional<Provider> parse_provider(std::string_view t) {
  for (Provider p : kProviders)
    if (provider_token(p) == t) return p;
  return std::nullopt;
}

std::string_view provider_token(Provider p) {
  switch (p) {
    case Provider::generic: return "generic";
    case Provider::cloudflare: return "cloudflare";
    case Provider::ionos: return "ionos";
    case Provider::bind: return "bind";
  }
  return "generic";
}

std::string_view provider_label(Provider p) {
  switch (p) {
    case Provider::generic: return "any DNS provider";
    case Provider::cloudflare: return "Cloudflare";
    case Provider::ionos: return "IONOS";
    case Provider::bind: return "a BIND zone file";
  }
  return "any DNS provider";
}

std::string publish_heading(Provider p) {
  return std::string("How to publish it ") + (p == Provider::bind ? "in " : "at ") + std::string(provider_label(p));
}

std::vector<std::string> provider_steps(Provider p, const GeneratedRecord& rec) {
  const std::string& d = rec.domain;
  const bool long_value = rec.value.size() > kMaxCharacterString;
  std::vector<std::string> s;
  switch (p) {
    case Provider::generic:
      s.push_back("Sign in where the DNS of " + d + " is managed (often your registrar or hosting company) and open "
                  "its DNS settings. If your provider is not listed in this tool, look for \"DNS management\", "
                  "\"Zone editor\" or \"Records\".");
      s.push_back("Choose \"Add record\" (sometimes \"New record\" or \"+\").");
      s.push_back("Type: pick TXT.");
      s.push_back("Name (or Host): enter _smtp._tls. Most forms append the domain themselves; if yours wants the "
                  "full name, enter " + rec.host + ". In these forms \"@\" stands for the domain itself, so do not "
                  "put \"@\" here.");
      s.push_back("Value (or Content, Text): paste the value exactly as shown, without quotes unless the form asks "
                  "for them." +
                  std::string(long_value ? " The value is longer than 255 bytes: most forms split it for you; if "
                                           "yours refuses it, ask your provider how to enter a long TXT record."
                                         : ""));
      s.push_back("TTL: keep the default (an hour is fine).");
      s.push_back("Save. Most providers publish a new record within 5 minutes; then check it with "
                  "`tlsrptd record inspect " + d + "`.");
      break;
    case Provider::ionos:
      s.push_back("Log in to the IONOS customer center and open \"Domains & SSL\".");
      s.push_back("Click the domain " + d + ", then open its \"DNS\" tab.");
      s.push_back("Click \"Add record\" (German panel: \"Eintrag hinzufügen\") and choose the type TXT.");
      s.push_back("Host name: enter _smtp._tls (IONOS adds ." + d + " itself).");
      s.push_back("Value: paste the value into the content field (\"Wert\") exactly as shown, without quotes.");
      s.push_back("Keep the default TTL and save. IONOS typically publishes the record within 15 to 60 minutes; "
                  "then check it with `tlsrptd record inspect " + d + "`.");
      break;
    case Provider::cloudflare:
      s.push_back("Log in to the Cloudflare dashboard and select the domain " + d + ".");
      s.push_back("Open DNS, then Records, and click \"Add record\".");
      s.push_back("Type: TXT. Name: _smtp._tls (Cloudflare completes it to " + rec.host + ").");
      s.push_back("Content: paste the value exactly as shown, without quotes.");
      s.push_back("If a proxy status is offered, leave it on \"DNS only\" (the grey cloud): TXT records are "
                  "answered by DNS and must not be proxied.");
      s.push_back("TTL: Auto. Save; Cloudflare typically serves the new record in under 2 minutes. Then check it "
                  "with `tlsrptd record inspect " + d + "`.");
      break;
    case Provider::bind:
      s.push_back("Add this line to the zone file of " + d + ":\n" + bind_zone_line(rec));
      s.push_back(long_value ? "The value is longer than 255 bytes, so it is written as several quoted strings; "
                               "senders join them without spaces (RFC 8460 §3)."
                             : "A value up to 255 bytes fits in one quoted string; a longer one must be split into "
                               "several, which senders join without spaces (RFC 8460 §3).");
      s.push_back("Increase the serial number in the zone's SOA record, re-sign the zone if it uses DNSSEC, and "
                  "reload it (for example `rndc reload " + d + "`).");
      s.push_back("Check it with `tlsrptd record inspect " + d + "` once the secondaries have the new serial.");
      break;
  }
  return s;
}

const std::vector<GuideSection>& record_explanation() {
  static const std::vector<GuideSection> k = {
      {"What this record does",
       "It tells mail servers that send mail to your domain where to deliver a daily TLS report (RFC 8460): how "
       "many of their connections to your mail servers were encrypted successfully, and why the others failed. "
       "The record itself changes nothing about how mail is delivered."},
      {"Why it matters with MTA-STS and DANE",
       "With MTA-STS (RFC 8461) or DANE (RFC 7672) you ask senders to refuse delivery over a connection that is not "
       "properly encrypted. The reports are how you learn about a broken certificate or a misconfigured mail server "
       "before mail starts bouncing."},
      {"Rollout order",
       "1. Publish this TLS-RPT record and watch the reports for a few days.\n"
       "2. Publish an MTA-STS policy in mode \"testing\": senders then report policy failures but still deliver.\n"
       "3. When the reports show no failures, switch the policy to \"enforce\".\n"
       "In this order, problems show up in the reports before any sender refuses your mail."},
      {"Privacy",
       "Reports contain the sender's organisation, your mail server names and IP addresses, the policy the sender "
       "saw and failure codes. They contain no message content and no email addresses. They do reveal your mail "
       "setup and who sends you mail, so before pointing rua at a third-party service, check how it stores and "
       "uses the reports."},
  };
  return k;
}

}  // namespace tlsrpt::record
