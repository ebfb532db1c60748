// The `_smtp._tls` TXT record (RFC 8460 §3): the grammar checker behind `record check`
// and `record inspect`, the sender's choice among several TXT records, and the
// generator behind `record generate`. Pure: no DNS, no I/O; record text is untrusted
// and never makes these functions throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrpt {

// Records longer than this are refused unread (a real one is well under 300 bytes).
inline constexpr std::size_t kMaxRecordBytes = 4096;
// RFC 1035 §3.3: one TXT character-string holds at most 255 bytes.
inline constexpr std::size_t kMaxCharacterString = 255;
// More destinations than this draws a warning: every sender then delivers every
// report that many times, and some senders only try the first few.
inline constexpr std::size_t kMaxRecommendedRua = 5;
// Most TXT records `check_record_set` looks at (a DNS answer is attacker controlled).
inline constexpr std::size_t kMaxTxtRecords = 64;

// One rua destination as written in the record.
struct RuaUri {
  std::string uri;     // exactly as in the record (percent-encoding kept)
  std::string scheme;  // lower case: "mailto", "https", or what was written ("http" ...)
  std::string target;  // mailto: the decoded address(es); https: the host; "" if unparsable
  bool usable = false; // a destination senders will deliver to (mailto/https, well formed)
};

struct RecordExtension {
  std::string name;
  std::string value;
};

// Result of checking one record string. `valid` means: a sender accepts the record
// and has at least one destination. Warnings never make a record invalid.
struct RecordCheck {
  bool valid = false;
  std::vector<RuaUri> rua;                 // every destination, in record order (union of repeated rua=)
  std::vector<RecordExtension> extensions; // syntactically valid unknown fields (senders ignore them)
  std::vector<std::string> errors;         // lower case, each naming the field at fault
  std::vector<std::string> warnings;
};

struct RecordCheckOptions {
  // The text came from DNS (strings already joined): the 255-byte-string warning
  // does not apply, DNS did the splitting.
  bool from_dns = false;
};

// Checks one record string against the RFC 8460 §3 ABNF. Decisions where the RFC is
// ambiguous (docs/receiver-rules.md#record-grammar):
//  - WSP between "v=TLSRPTv1" and the first ";" is ABNF-valid but fails the literal
//    "begins with v=TLSRPTv1;" rule senders apply: valid, with a warning.
//  - repeated rua= fields: valid, their URIs are merged (union), with a warning.
//  - rua missing while extensions exist, and "v=TLSRPTv1" / "v=TLSRPTv1;" alone: invalid.
//  - an unsupported scheme (http:, ftp: ...) is an error when no usable destination is
//    left, else a warning (senders skip that URI and use the others).
//  - URI schemes compare case-insensitively (RFC 3986 §3.1), with a warning.
//  - one trailing ";" is allowed (ABNF), with a warning; ";;" is an error.
//  - whitespace is checked exactly as the ABNF allows: around ";" and "," only.
RecordCheck check_record(std::string_view text, RecordCheckOptions opts = {});

// RFC 8460 §3: among the TXT records at `_smtp._tls.<domain>` (each with its strings
// already joined without spaces), senders discard those not beginning with
// "v=TLSRPTv1;" and use the result only when exactly one record is left.
struct RecordSetCheck {
  bool valid = false;
  std::vector<std::string> tlsrpt_records;  // the records senders keep
  std::vector<std::string> discarded;       // the others
  RecordCheck check;                        // of the one record kept (empty otherwise)
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};
// A record counts as kept when it begins with "v=TLSRPTv1", optional WSP, then ";"
// (the WSP form is kept, as check_record decides, and warned about there).
bool is_tlsrpt_record(std::string_view joined);
RecordSetCheck check_record_set(const std::vector<std::string>& joined_records);

// What `record generate` produces: the three fields every DNS provider asks for.
struct GeneratedRecord {
  std::string domain;                // A-label policy domain
  std::string host;                  // "_smtp._tls.<domain>"
  std::string name = "_smtp._tls";   // the host relative to the zone
  std::string type = "TXT";
  std::string value;                 // "v=TLSRPTv1; rua=..."
  std::vector<std::string> rua;      // the URIs as written into value
  std::vector<std::string> warnings; // from the final check, and inputs taken liberally
};

// Validates `domain` (IDN -> A-label; "_smtp._tls." prefix tolerated) and each rua
// (mailto: with a valid addr-spec or https: with a host name; a bare address is taken
// as mailto:), percent-encodes "," "!" ";" and other characters URIs cannot hold, and
// returns the record, or every problem found (lower case, one per entry).
std::expected<GeneratedRecord, std::vector<std::string>> generate_record(std::string_view domain,
                                                                         const std::vector<std::string>& ruas);

// Splits a value into DNS character-strings of at most `max` bytes; senders join them
// without spaces (RFC 8460 §3). An empty value yields one empty string.
std::vector<std::string> split_character_strings(std::string_view value, std::size_t max = kMaxCharacterString);

// A BIND zone-file line: `_smtp._tls.example.com. 3600 IN TXT "..." "..."`, each
// quoted string at most 255 bytes, `"` and `\` escaped.
std::string bind_zone_line(const GeneratedRecord& rec, std::uint32_t ttl = 3600);

}  // namespace tlsrpt
