// The words around a generated record: step-by-step instructions per DNS provider
// and the short explanation of what the record does, shared by `record generate` and
// the web page. Plain text only; callers escape it for their medium.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "record/record.hpp"

namespace tlsrpt::record {

enum class Provider { generic, cloudflare, ionos, bind };

std::optional<Provider> parse_provider(std::string_view token);  // "generic", "cloudflare", ...
std::string_view provider_token(Provider p);
std::string_view provider_label(Provider p);  // "any DNS provider", "Cloudflare", "IONOS", "a BIND zone file"
std::string publish_heading(Provider p);      // "How to publish it at Cloudflare", "... in a BIND zone file"
inline constexpr Provider kProviders[] = {Provider::generic, Provider::cloudflare, Provider::ionos, Provider::bind};

// Numbered steps (without their numbers) to publish `rec` at that provider.
std::vector<std::string> provider_steps(Provider p, const GeneratedRecord& rec);

struct GuideSection {
  std::string_view title;
  std::string_view text;  // "\n" separates lines that belong apart (numbered steps)
};
// What the record does, MTA-STS and DANE, the rollout order, the privacy note.
const std::vector<GuideSection>& record_explanation();

}  // namespace tlsrpt::record
