// The canonical JSON form of a report: RFC 8460 §4.4 member names in schema order,
// compact, normalised values, absent optional members omitted. Two submissions of
// the same report (gzip or not, pretty-printed or not) have the same canonical form,
// which is what deduplication compares (by its SHA-256).
#pragma once

#include <string>
#include <vector>

#include "parser/report.hpp"

namespace tlsrpt {

std::string to_canonical_json(const Report& r);
void write_canonical_json(std::string& out, const Report& r);

// [{"code":...,"where":...,"detail":...}, ...]
std::string notes_to_json(const std::vector<Note>& notes);

// Lower-case hex SHA-256 of `bytes`.
std::string sha256_hex(std::string_view bytes);

}  // namespace tlsrpt
