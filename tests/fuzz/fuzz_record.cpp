// libFuzzer target for parser/record: the `_smtp._tls` grammar checker and the
// generator. The input is read three ways: as one record (check_record), as the TXT
// records of one name, one per line (check_record_set), and as `record generate`
// arguments (first line the domain, the others rua URIs). Invariants: verdicts
// agree with their errors; whatever the generator produces checks valid, also from
// DNS and in a record set, and generating again from its own output changes nothing.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "record/record.hpp"

namespace {

using namespace tlsrpt;

[[noreturn]] void broken(const char* what, int line) {
  std::fprintf(stderr, "fuzz_record: invariant broken at line %d: %s\n", line, what);
  std::abort();
}
#define REQUIRE(c) ((c) ? (void)0 : broken(#c, __LINE__))

void dump(const char* what, const RecordCheck& c) {
  std::fprintf(stderr, "%s: valid=%d\n", what, c.valid);
  for (const auto& e : c.errors) std::fprintf(stderr, "  error: %s\n", e.c_str());
}

// What every verdict promises (record.hpp).
void check_verdict(std::string_view text, const RecordCheck& c) {
  REQUIRE(c.valid == c.errors.empty());
  if (!c.valid) return;
  REQUIRE(text.size() <= kMaxRecordBytes);
  REQUIRE(is_tlsrpt_record(text));  // a record senders keep
  bool usable = false;
  for (const auto& u : c.rua) usable = usable || u.usable;
  REQUIRE(usable);  // valid means: at least one destination senders deliver to
  for (const auto& e : c.errors) REQUIRE(!e.empty());
}

void check_generated(const GeneratedRecord& rec) {
  REQUIRE(!rec.rua.empty());
  REQUIRE(rec.host == "_smtp._tls." + rec.domain);
  RecordCheck c = check_record(rec.value);
  if (!c.valid) {
    std::fprintf(stderr, "generated: %s\n", rec.value.c_str());
    dump("check", c);
    broken("generated record checks valid", __LINE__);
  }
  check_verdict(rec.value, c);
  // Every URI reads back as written, and every one is usable.
  REQUIRE(c.rua.size() == rec.rua.size());
  for (std::size_t i = 0; i < c.rua.size(); ++i) {
    REQUIRE(c.rua[i].uri == rec.rua[i]);
    REQUIRE(c.rua[i].usable);
  }
  // As DNS serves it: split into strings, joined again by the sender.
  std::string joined;
  for (const auto& s : split_character_strings(rec.value)) {
    REQUIRE(s.size() <= kMaxCharacterString);
    joined += s;
  }
  REQUIRE(joined == rec.value);
  RecordSetCheck set = check_record_set({joined, "v=spf1 -all", "google-site-verification=x"});
  REQUIRE(set.valid);
  REQUIRE(set.tlsrpt_records.size() == 1);
  REQUIRE(!bind_zone_line(rec).empty());

  // The generator is a fixpoint on its own output.
  auto again = generate_record(rec.domain, rec.rua);
  if (!again) {
    std::fprintf(stderr, "generated: %s\n", rec.value.c_str());
    for (const auto& e : again.error()) std::fprintf(stderr, "  regenerate error: %s\n", e.c_str());
    broken("generate_record accepts its own output", __LINE__);
  }
  REQUIRE(again->value == rec.value);
  REQUIRE(again->domain == rec.domain);
}

std::vector<std::string> lines_of(std::string_view s) {
  std::vector<std::string> out;
  for (;;) {
    auto nl = s.find('\n');
    out.emplace_back(s.substr(0, nl));
    if (nl == std::string_view::npos) break;
    s.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // One record, as typed (255-byte strings warned about) and as DNS joined it.
  RecordCheck typed = check_record(text);
  RecordCheck dns = check_record(text, RecordCheckOptions{.from_dns = true});
  check_verdict(text, typed);
  check_verdict(text, dns);
  REQUIRE(typed.valid == dns.valid);  // the two differ by one warning only
  REQUIRE(typed.errors == dns.errors);

  // The TXT records of one name, one per line.
  const std::vector<std::string> lines = lines_of(text);
  RecordSetCheck set = check_record_set(lines);
  REQUIRE(set.valid == set.errors.empty());
  REQUIRE(set.tlsrpt_records.size() + set.discarded.size() == std::min(lines.size(), kMaxTxtRecords));
  if (set.valid) {
    REQUIRE(set.tlsrpt_records.size() == 1);
    REQUIRE(set.check.valid);
    check_verdict(set.tlsrpt_records.front(), set.check);
  }
  // A lone record the sender keeps gets the same verdict alone and in a set.
  if (is_tlsrpt_record(text) && text.find('\n') == std::string_view::npos)
    REQUIRE(check_record_set({std::string(text)}).valid == dns.valid);

  // `record generate DOMAIN RUA...`
  const std::vector<std::string> ruas(lines.begin() + 1, lines.end());
  if (ruas.size() <= 16) {
    auto gen = generate_record(lines.front(), ruas);
    if (gen) check_generated(*gen);
  }
  return 0;
}
