// JSON (RFC 8460 §4.4) -> tlsrpt::Report, with simdjson On-Demand: one reusable
// parser, every object walked once, values copied out, every value counted and
// every nesting level checked against the limits. Tolerated real-world deviations
// become notes; what is truly broken is an Error naming the field path.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "parser/error.hpp"
#include "parser/limits.hpp"
#include "parser/report.hpp"

namespace tlsrpt {

class ReportParser {
 public:
  explicit ReportParser(const Limits& limits = {});
  ~ReportParser();
  ReportParser(ReportParser&&) noexcept;
  ReportParser& operator=(ReportParser&&) noexcept;

  // Parses `json`. When json.data() is followed by at least kPadding readable bytes
  // (capacity >= size + kPadding) pass the capacity to avoid a copy.
  std::expected<ParsedReport, Error> parse(std::string_view json, std::size_t capacity = 0);

  const Limits& limits() const { return limits_; }
  static constexpr std::size_t kPadding = 64;  // SIMDJSON_PADDING
  struct Impl;  // simdjson state, kept out of this header

 private:
  std::unique_ptr<Impl> impl_;
  Limits limits_;
};

}  // namespace tlsrpt
