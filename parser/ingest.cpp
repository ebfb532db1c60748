#include "parser/ingest.hpp"

#include "parser/canonical_json.hpp"
#include "parser/gunzip.hpp"
#include "parser/notes.hpp"

namespace tlsrpt {

std::string_view to_token(Transport t) {
  switch (t) {
    case Transport::https: return "https";
    case Transport::smtp: return "smtp";
    case Transport::lmtp: return "lmtp";
    case Transport::maildir: return "maildir";
    case Transport::import: return "import";
  }
  return "import";
}

Format detect_format(std::string_view bytes) {
  if (has_gzip_magic(bytes)) return Format::gzip;
  if (bytes.starts_with("\xEF\xBB\xBF")) bytes.remove_prefix(3);
  auto i = bytes.find_first_not_of(" \t\r\n");
  if (i != std::string_view::npos && (bytes[i] == '{' || bytes[i] == '[')) return Format::json;
  return Format::unknown;
}

Ingestor::Ingestor(const Limits& limits) : limits_(limits), parser_(limits) {}

std::expected<std::string_view, Error> Ingestor::inflate(std::string_view gz) {
  auto info = gunzip(gz, inflated_, limits_);
  if (!info) return std::unexpected(std::move(info.error()));
  gzip_members_ = info->members;
  return std::string_view(inflated_.data(), inflated_.size());
}

std::expected<Ingested, Error> Ingestor::parse_json(std::string_view json, std::size_t capacity) {
  auto parsed = parser_.parse(json, capacity);
  if (!parsed) return std::unexpected(std::move(parsed.error()));
  Ingested out;
  out.parsed = std::move(*parsed);
  out.canonical_json = to_canonical_json(out.parsed.report);
  out.content_sha256 = sha256_hex(out.canonical_json);
  return out;
}

std::expected<Ingested, Error> Ingestor::ingest(std::string_view bytes) {
  if (bytes.empty()) return std::unexpected(Error{RejectReason::empty, "", "empty submission"});
  if (bytes.size() > limits_.max_submission_bytes)
    return std::unexpected(Error{RejectReason::too_large, "",
                                 "submission is larger than " + std::to_string(limits_.max_submission_bytes) + " bytes"});
  switch (detect_format(bytes)) {
    case Format::gzip: {
      auto json = inflate(bytes);
      if (!json) return std::unexpected(std::move(json.error()));
      if (has_gzip_magic(*json))
        return std::unexpected(Error{RejectReason::nested_gzip, "", "gzip inside gzip is not accepted"});
      if (detect_format(*json) != Format::json)
        return std::unexpected(Error{RejectReason::not_json, "", "the gzip payload is not JSON"});
      auto out = parse_json(*json, inflated_.capacity());
      if (!out) return out;
      out->was_gzip = true;
      if (gzip_members_ > 1)
        out->parsed.notes.push_back(Note{std::string(note::kGzipMultiMember), "",
                                         std::to_string(gzip_members_) + " gzip members joined"});
      return out;
    }
    case Format::json: return parse_json(bytes);
    case Format::unknown: break;
  }
  if (looks_like_mail(bytes))
    return std::unexpected(Error{RejectReason::unsupported, "", "a mail message, not a bare report"});
  return std::unexpected(Error{RejectReason::not_json, "", "neither gzip nor JSON"});
}

bool looks_like_mail(std::string_view bytes) {
  if (bytes.starts_with("From ")) return true;  // mbox separator line
  // First line "Field-Name: ..." (RFC 5322 §2.2: printable ASCII except ':').
  auto colon = bytes.find(':');
  auto eol = bytes.find('\n');
  if (colon == std::string_view::npos || colon == 0 || (eol != std::string_view::npos && eol < colon)) return false;
  for (char c : bytes.substr(0, colon))
    if (c <= 32 || c >= 127) return false;
  return true;
}

}  // namespace tlsrpt
