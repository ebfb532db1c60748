#include "parser/mail.hpp"

#include <gmime/gmime.h>
#include <zlib.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>

#include "parser/domain.hpp"
#include "parser/gmime_ptr.hpp"
#include "parser/gunzip.hpp"
#include "parser/notes.hpp"
#include "parser/text.hpp"

namespace tlsrpt {
namespace {

// Enough of a payload's start to tell a report from other JSON or XML.
constexpr std::size_t kSniffBytes = 4 * kKiB;

// RFC 2045 §5.1 token: printable US-ASCII except SPACE and tspecials.
bool is_token(std::string_view s) {
  constexpr std::string_view kSpecials = "()<>@,;:\\\"/[]?=";
  return !s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
    return c > 0x20 && c < 0x7f && kSpecials.find(c) == std::string_view::npos;
  });
}

// A header value fit to store and print: folding removed, control characters
// replaced, trimmed, capped on a UTF-8 boundary.
std::string clean(const char* value, std::size_t cap) {
  if (!value) return {};
  std::string out;
  for (const char* p = value; *p; ++p) {
    unsigned char c = static_cast<unsigned char>(*p);
    if (c == '\r' || c == '\n') continue;  // RFC 5322 §2.2.3: unfolding removes the CRLF only
    out.push_back(c < 0x20 || c == 0x7f ? ' ' : static_cast<char>(c));
  }
  return std::string(trim(cut_utf8(trim(out, " "), cap), " "));  // the cut may land after a blank
}

// The first kSniffBytes of a gzip stream's payload, or nothing if it does not inflate.
std::string gunzip_prefix(std::string_view gz) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return {};
  std::string out(kSniffBytes, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  zs.avail_in = static_cast<uInt>(std::min<std::size_t>(gz.size(), 1u << 30));
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = inflate(&zs, Z_SYNC_FLUSH);
  std::size_t got = zs.total_out;
  inflateEnd(&zs);
  if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return {};
  out.resize(got);
  return out;
}

enum class Payload { gzip, json, other };

// JSON whose start names a member only a TLS report has (RFC 8460 §4.4); an
// arbitrary JSON or XML attachment (a DMARC aggregate report) is not one.
bool looks_like_report_json(std::string_view s) {
  if (s.starts_with("\xEF\xBB\xBF")) s.remove_prefix(3);
  auto i = s.find_first_not_of(" \t\r\n");
  if (i == std::string_view::npos || s[i] != '{') return false;
  s = s.substr(0, kSniffBytes);
  for (std::string_view key : {"\"organization-name\"", "\"report-id\"", "\"date-range\"", "\"policies\""})
    if (s.find(key) != std::string_view::npos) return true;
  return false;
}

// What the decoded bytes of a part are, by content (RFC 8460 §5.2 leaves labels to chance).
Payload sniff(std::string_view bytes) {
  if (has_gzip_magic(bytes)) return looks_like_report_json(gunzip_prefix(bytes)) ? Payload::gzip : Payload::other;
  return looks_like_report_json(bytes) ? Payload::json : Payload::other;
}

struct Candidate {
  GMimePart* part = nullptr;  // owned by the message
  bool labelled = false;      // application/tlsrpt*: the report whatever its bytes
  std::string media;          // "type/subtype", lower case
  std::string filename;
  std::optional<std::string> decoded;
  Payload payload = Payload::other;
};

class Extractor {
 public:
  explicit Extractor(const Limits& limits) : limits_(limits) {}

  // Visits `obj` and its subtree; `skip` counts parts without looking for a report.
  std::optional<Error> walk(GMimeObject* obj, std::size_t depth, bool skip = false) {
    if (++parts_ > limits_.max_mime_parts)
      return Error{RejectReason::too_many_items, "", "the mail has more than " + std::to_string(limits_.max_mime_parts) + " MIME parts"};
    GMimeContentType* ct = g_mime_object_get_content_type(obj);
    if (GMIME_IS_MULTIPART(obj)) {
      if (depth + 1 > limits_.max_mime_depth)
        return Error{RejectReason::too_deep, "", "the mail nests multiparts deeper than " + std::to_string(limits_.max_mime_depth)};
      // RFC 6522: a multipart/report of another kind (DMARC feedback, a bounce) is
      // not ours, and neither is anything inside it.
      if (!skip && ct && g_mime_content_type_is_type(ct, "multipart", "report")) {
        const char* rt = g_mime_content_type_get_parameter(ct, "report-type");
        if (rt && !iequals(clean(rt, 64), "tlsrpt")) {
          skip = true;
          if (depth == 0) top_report_type_ = clean(rt, 64);
        }
      }
      auto* mp = GMIME_MULTIPART(obj);
      int n = g_mime_multipart_get_count(mp);
      for (int i = 0; i < n; ++i)
        if (auto err = walk(g_mime_multipart_get_part(mp, i), depth + 1, skip)) return err;
      return std::nullopt;
    }
    // message/rfc822 and message/global: a quoted mail (bounce, forward) is someone
    // else's report, and its DKIM signature is not the outer one.
    if (skip || !GMIME_IS_PART(obj) || !ct) return std::nullopt;
    Candidate c;
    c.part = GMIME_PART(obj);
    const char* t = g_mime_content_type_get_media_type(ct);
    const char* st = g_mime_content_type_get_media_subtype(ct);
    std::string type = ascii_lower(t ? t : ""), sub = ascii_lower(st ? st : "");
    // RFC 2045 §5.2: a type or subtype that is not a token is no media type; such a
    // part is application/octet-stream (GMime already does so for most junk, but
    // keeps 8-bit bytes), so the label kept in the provenance is ASCII tokens only.
    if (!is_token(type) || !is_token(sub)) type = "application", sub = "octet-stream";
    c.media = type + "/" + sub;
    // Whether the name says JSON is decided on the whole name: the cap is for what is
    // kept, and must not change which parts are candidates (found by fuzz_ingest:
    // tighter limits cut ".json" off one part's long name and picked another).
    const std::string full_name = clean(g_mime_part_get_filename(c.part), std::string::npos);
    c.filename = clean(full_name.c_str(), limits_.max_identifier_bytes);
    // RFC 8460 §5.3: application/tlsrpt+gzip or +json; the bare form is seen too (mail-auth-5).
    c.labelled = type == "application" && sub.starts_with("tlsrpt");
    bool maybe = type == "application" && (sub == "gzip" || sub == "x-gzip" || sub == "json" || sub == "octet-stream");
    maybe = maybe || iends_with(full_name, ".json") || iends_with(full_name, ".json.gz");
    if (!c.labelled && !maybe) return std::nullopt;
    auto decoded = decode(c.part);
    if (!decoded) {
      if (c.labelled)
        return Error{RejectReason::too_large, "", "the report part is larger than " +
                                                      std::to_string(limits_.max_submission_bytes) + " bytes when decoded"};
      return std::nullopt;  // too big to be a report: some other attachment
    }
    c.payload = sniff(*decoded);
    if (!c.labelled && c.payload == Payload::other) return std::nullopt;
    c.decoded = std::move(decoded);
    candidates_.push_back(std::move(c));
    return std::nullopt;
  }

  std::vector<Candidate>& candidates() { return candidates_; }
  const std::string& top_report_type() const { return top_report_type_; }

 private:
  // The part's content with its transfer encoding undone, or nothing when it would
  // exceed max_submission_bytes. Base64 and quoted-printable decode to at least
  // about a third of their size ("=XX" plus soft breaks), so a part more than four
  // times the cap is refused before any decoding work.
  std::optional<std::string> decode(GMimePart* part) const {
    GMimeDataWrapper* content = g_mime_part_get_content(part);
    if (!content) return std::string();
    GMimeStream* src = g_mime_data_wrapper_get_stream(content);
    gint64 encoded = src ? g_mime_stream_length(src) : 0;
    const std::size_t cap = limits_.max_submission_bytes;
    if (encoded > 0 && static_cast<std::size_t>(encoded) / 4 > cap) return std::nullopt;
    GPtr<GMimeStream> mem(g_mime_stream_mem_new());
    if (g_mime_data_wrapper_write_to_stream(content, mem.get()) < 0) return std::string();
    GByteArray* arr = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.get()));
    if (!arr) return std::string();
    if (arr->len > cap) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(arr->data), arr->len);
  }

  const Limits& limits_;
  std::size_t parts_ = 0;
  std::vector<Candidate> candidates_;
  std::string top_report_type_;
};

// Offset of the blank line that ends the header block (npos: no body at all).
std::size_t header_block_end(std::string_view m) {
  for (std::size_t i = m.find('\n'); i != std::string_view::npos; i = m.find('\n', i + 1)) {
    std::size_t j = i + 1;
    if (j < m.size() && m[j] == '\r') ++j;
    if (j >= m.size() || m[j] == '\n') return i + 1;
  }
  return std::string_view::npos;
}

// GMime builds an object for every part, header and parameter before the tree can
// be walked, at ~40 times their size: 7 MiB of empty parts or of part headers cost
// it 350-400 MiB and seconds of CPU (scenario 24 in
// docs/guarantees.md#reliability-scenarios). So the part and header limits are first
// checked on the raw text, in one pass:
//  - a part starts at a line beginning "--" (a delimiter; a base64 line never does),
//    so more than kDelimitersPerPart * max_mime_parts such lines cannot be a mail
//    within the part limit (each part has its delimiter, each multipart one more to
//    close it; the rest is slack for text that happens to start with "--");
//  - header blocks (the top one, the one after each such line, and the one inside a
//    message/* part) together stay within max_mail_header_bytes.
constexpr std::size_t kDelimitersPerPart = 4;

std::optional<Error> precheck_structure(std::string_view m, const Limits& limits) {
  const std::size_t max_delimiters = kDelimitersPerPart * limits.max_mime_parts;
  std::size_t delimiters = 0, header_bytes = 0;
  bool in_header = true, embedded = false;
  for (std::size_t pos = 0; pos < m.size();) {
    std::size_t eol = m.find('\n', pos);
    std::size_t next = eol == std::string_view::npos ? m.size() : eol + 1;
    std::string_view line = m.substr(pos, next - pos);
    pos = next;
    if (line.starts_with("--")) {
      if (++delimiters > max_delimiters)
        return Error{RejectReason::too_many_items, "",
                     "the mail has more than " + std::to_string(limits.max_mime_parts) + " MIME parts (over " +
                         std::to_string(max_delimiters) + " part delimiter lines)"};
      in_header = true;
      embedded = false;
      continue;
    }
    if (!in_header) continue;
    if (line == "\n" || line == "\r\n") {
      in_header = embedded;  // a message/* part's body begins with the inner message's header
      embedded = false;
      continue;
    }
    header_bytes += line.size();
    if (header_bytes > limits.max_mail_header_bytes)
      return Error{RejectReason::too_large, "",
                   "the mail's header blocks are larger than " + std::to_string(limits.max_mail_header_bytes) +
                       " bytes together"};
    if (line.size() >= 8) {
      // "message/" anywhere in the block: conservative, only counts more as header.
      for (std::size_t i = 0; i + 8 <= line.size(); ++i)
        if (iequals(line.substr(i, 8), "message/")) {
          embedded = true;
          break;
        }
    }
  }
  return std::nullopt;
}

std::string header_text(GMimeHeader* h, bool raw, std::size_t cap) {
  return clean(raw ? g_mime_header_get_raw_value(h) : g_mime_header_get_value(h), cap);
}

// The domain of From's mailbox, as A-labels (DKIM alignment compares it with d=);
// "" unless From holds exactly one mailbox (RFC 7489 §6.6.1 treats several as
// unalignable) or when the domain is not a valid name.
std::string from_domain(GMimeMessage* msg, std::size_t cap) {
  InternetAddressList* from = g_mime_message_get_from(msg);
  if (!from || internet_address_list_length(from) != 1) return {};
  InternetAddress* a = internet_address_list_get_address(from, 0);
  if (!INTERNET_ADDRESS_IS_MAILBOX(a)) return {};
  const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
  std::string_view s = addr ? addr : "";
  auto at = s.rfind('@');
  if (at == std::string_view::npos || s.size() > cap) return {};
  return normalize_domain(s.substr(at + 1)).value_or(std::string());
}

}  // namespace

void ensure_gmime_initialized() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

// Real-world shapes GMime absorbs without code here (corpus/SOURCES.md §2):
//  quirk(mailru): no closing boundary, report-type="tlsrpt" quoted and first, a
//    Subject folded over four lines;
//  quirk(microsoft): a text/html first part (2024+), no name= on the report part;
//  quirk(google): "application/tlsrpt+gzip; " with a trailing space before the
//    folded name=, base64 running straight into the boundary line.
std::expected<MailReport, Error> extract_mail_report(std::string_view message, const Limits& limits) {
  ensure_gmime_initialized();
  if (message.size() > limits.max_mail_bytes)
    return std::unexpected(Error{RejectReason::too_large, "", "the mail is larger than " + std::to_string(limits.max_mail_bytes) + " bytes"});
  // An mbox "From " separator line is not a header: GMime would end the header block there.
  if (message.starts_with("From ")) {
    auto eol = message.find('\n');
    message.remove_prefix(eol == std::string_view::npos ? message.size() : eol + 1);
  }
  std::size_t head = header_block_end(message);
  if (std::min(head, message.size()) > limits.max_mail_header_bytes)
    return std::unexpected(Error{RejectReason::too_large, "",
                                 "the mail's header block is larger than " + std::to_string(limits.max_mail_header_bytes) + " bytes"});

  if (auto err = precheck_structure(message, limits)) return std::unexpected(std::move(*err));

  GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(message.data(), message.size()));
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
  GPtr<GMimeMessage> msg(g_mime_parser_construct_message(parser.get(), nullptr));
  if (!msg) return std::unexpected(Error{RejectReason::not_a_report, "", "not a mail message"});

  MailReport out;
  MailProvenance& prov = out.provenance;
  GMimeHeaderList* headers = g_mime_object_get_header_list(GMIME_OBJECT(msg.get()));
  const std::size_t id_cap = limits.max_identifier_bytes, text_cap = limits.max_text_bytes;
  int nh = headers ? g_mime_header_list_get_count(headers) : 0;
  for (int i = 0; i < nh; ++i) {
    GMimeHeader* h = g_mime_header_list_get_header_at(headers, i);
    const char* name_c = g_mime_header_get_name(h);
    std::string_view name = name_c ? name_c : "";
    auto first = [&](std::string& dst, bool raw, std::size_t cap) {
      if (dst.empty()) dst = header_text(h, raw, cap);
    };
    if (iequals(name, "TLS-Report-Domain")) first(prov.tls_report_domain, false, id_cap);
    else if (iequals(name, "TLS-Report-Submitter")) first(prov.tls_report_submitter, false, id_cap);
    else if (iequals(name, "Subject")) first(prov.subject, false, text_cap);
    else if (iequals(name, "Message-ID")) first(prov.message_id, true, id_cap);
    else if (iequals(name, "From")) first(prov.from, false, id_cap);
    else if (iequals(name, "Date")) first(prov.date, true, id_cap);
    else if (iequals(name, "DKIM-Signature")) {
      prov.dkim_signature_present = true;
      prov.dkim_signatures.push_back(header_text(h, true, text_cap));
    } else if (iequals(name, "Authentication-Results")) {
      prov.authentication_results.push_back(header_text(h, true, text_cap));
    }
  }

  prov.from_domain = from_domain(msg.get(), id_cap);

  GMimeObject* body = g_mime_message_get_mime_part(msg.get());
  if (!body) return std::unexpected(Error{RejectReason::not_a_report, "", "the mail has no body"});
  Extractor ex(limits);
  if (auto err = ex.walk(body, 0)) return std::unexpected(std::move(*err));
  if (!ex.top_report_type().empty())
    return std::unexpected(Error{RejectReason::not_a_report, "",
                                 "a multipart/report of report-type " + ex.top_report_type() + ", not tlsrpt"});
  auto& cands = ex.candidates();
  auto chosen = std::find_if(cands.begin(), cands.end(), [](const Candidate& c) { return c.labelled; });
  if (chosen == cands.end()) chosen = cands.begin();
  if (chosen == cands.end())
    return std::unexpected(Error{RejectReason::not_a_report, "",
                                 "no TLS report in this mail (no application/tlsrpt part and no part holding a JSON report)"});

  Candidate& c = *chosen;
  out.attachment = std::move(*c.decoded);
  prov.filename = c.filename;
  // The label is sender text like any header value: cleaned and capped before it is
  // stored or quoted in a note (a 300-byte subtype is legal MIME).
  prov.content_type = clean(c.media.c_str(), id_cap);
  if (cands.size() > 1)
    out.notes.push_back(Note{std::string(note::kMailExtraReportPart), "",
                             std::to_string(cands.size()) + " report parts; used the " + prov.content_type +
                                 (c.filename.empty() ? "" : " part \"" + c.filename + "\"") + ", ignored the others"});
  // quirk(parsedmarc): application/tlsrpt+gzip parts holding plain JSON, and the reverse.
  const bool says_gzip = c.media.ends_with("gzip");
  const bool says_json = c.media.ends_with("json");
  if ((says_gzip && c.payload == Payload::json) || (says_json && c.payload == Payload::gzip))
    out.notes.push_back(Note{std::string(note::kMailPartLabelMismatch), "",
                             "labelled " + prov.content_type + " but holds " + (c.payload == Payload::gzip ? "gzip" : "plain JSON")});
  return out;
}

}  // namespace tlsrpt
