// RFC 8460 §4.4 report JSON -> Report. The walker visits every member once, in
// document order (members may come in any order: tls-rpt-monitor-2 puts
// failure-details before summary), copies values out, counts every value against
// max_json_values and checks nesting against max_json_depth, including inside
// unknown members. simdjson On-Demand validates lazily, so unknown members are
// walked too: a document is accepted only when all of it is valid I-JSON.
#include "parser/report_parser.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstring>

#include "parser/datetime.hpp"
#include "parser/domain.hpp"
#include "parser/gunzip.hpp"
#include "parser/notes.hpp"
#include "parser/text.hpp"

namespace tlsrpt {

namespace od = simdjson::ondemand;
using simdjson::error_code;

static_assert(ReportParser::kPadding >= simdjson::SIMDJSON_PADDING);
static_assert(kGunzipPadding >= ReportParser::kPadding, "inflated reports are parsed in place");

struct ReportParser::Impl {
  od::parser parser;
  od::parser aux;  // for TLSA sets packed into a JSON string (quirk(microsoft))
  std::string padded;
  explicit Impl(std::size_t max_bytes) : parser(max_bytes), aux(64 * kKiB) {}
};

namespace {

// Where check_counts' sums stop: above any limits.max_sessions_per_report (at most
// 2^60), and low enough that adding one more sum cannot wrap a uint64.
constexpr Count kSaturated = Count{1} << 62;

// A JSON path, built into a string only when an error or note needs it.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;
  long index = -1;

  Path child(std::string_view k) const { return Path{this, k, -1}; }
  Path at(std::size_t i) const { return Path{this, {}, static_cast<long>(i)}; }

  void append(std::string& out) const {
    if (parent) parent->append(out);
    if (index >= 0) {
      out += '[';
      out += std::to_string(index);
      out += ']';
    } else if (!key.empty()) {
      if (!out.empty()) out += '.';
      out += key;
    }
  }
  std::string str() const {
    std::string s;
    append(s);
    return s;
  }
};

std::string_view type_name(od::json_type t) {
  switch (t) {
    case od::json_type::array: return "an array";
    case od::json_type::object: return "an object";
    case od::json_type::number: return "a number";
    case od::json_type::string: return "a string";
    case od::json_type::boolean: return "a boolean";
    case od::json_type::null: return "null";
  }
  return "an unknown value";
}

void trim_trailing_newlines(std::string& s, bool& trimmed) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n')) {
    s.pop_back();
    trimmed = true;
  }
}

enum class Got { value, null, error };

class Walker {
 public:
  Walker(const Limits& limits, ReportParser::Impl& impl, std::vector<Note>& notes)
      : limits_(limits), impl_(impl), notes_(notes) {}

  std::optional<Error> error;

  bool walk_document(od::document& doc, Report& r);

 private:
  // ---- errors and notes -------------------------------------------------------
  bool fail(RejectReason reason, const Path& where, std::string message) {
    if (!error) error = Error{reason, where.str(), std::move(message)};
    return false;
  }
  bool json_fail(error_code e, const Path& where) {
    switch (e) {
      case simdjson::UTF8_ERROR: return fail(RejectReason::invalid_utf8, where, "not valid UTF-8");
      case simdjson::STRING_ERROR:
        return fail(RejectReason::invalid_utf8, where, "invalid string (bad escape or lone surrogate)");
      case simdjson::UNESCAPED_CHARS:
        return fail(RejectReason::not_json, where, "not valid JSON (unescaped control character in a string)");
      case simdjson::NUMBER_ERROR:
        return fail(RejectReason::not_json, where, "invalid or out-of-range number");
      case simdjson::T_ATOM_ERROR:
      case simdjson::F_ATOM_ERROR:
      case simdjson::N_ATOM_ERROR:
        return fail(RejectReason::not_json, where, "not valid JSON (bad literal)");
      case simdjson::DEPTH_ERROR:
        return fail(RejectReason::too_deep, where,
                    "nesting deeper than " + std::to_string(limits_.max_json_depth) + " levels");
      case simdjson::CAPACITY:
        return fail(RejectReason::too_large, where, "document larger than the parser capacity");
      case simdjson::EMPTY: return fail(RejectReason::empty, where, "empty document");
      default: return fail(RejectReason::not_json, where, "not valid JSON (broken structure)");
    }
  }
  void note(std::string_view code, const Path& where, std::string detail = {}) {
    if (notes_.size() < limits_.max_notes) {
      notes_.push_back(Note{std::string(code), where.str(), std::move(detail)});
    } else if (notes_.size() == limits_.max_notes) {
      notes_.push_back(Note{std::string(note::kNotesTruncated), "", "more notes were dropped"});
    }
  }
  bool count_value(const Path& where) {
    if (++values_ > limits_.max_json_values)
      return fail(RejectReason::too_many_items, where,
                  "more than " + std::to_string(limits_.max_json_values) + " JSON values");
    return true;
  }
  bool duplicate(bool& seen, std::string_view key, const Path& where) {
    if (seen) return fail(RejectReason::duplicate_member, where, "duplicate member \"" + std::string(key) + "\"");
    seen = true;
    return true;
  }

  // ---- typed getters -------------------------------------------------------------
  bool type_of(od::value& v, const Path& p, od::json_type& t) {
    if (auto e = v.type().get(t)) return json_fail(e, p);
    return true;
  }
  Got get_string(od::value& v, const Path& p, std::string_view& out, bool allow_null) {
    od::json_type t;
    if (!type_of(v, p, t)) return Got::error;
    if (t == od::json_type::null) {
      if (allow_null) return Got::null;
      fail(RejectReason::wrong_type, p, "expected a string, got null");
      return Got::error;
    }
    if (t != od::json_type::string) {
      fail(RejectReason::wrong_type, p, "expected a string, got " + std::string(type_name(t)));
      return Got::error;
    }
    if (auto e = v.get_string().get(out)) {
      json_fail(e, p);
      return Got::error;
    }
    return Got::value;
  }
  // Identifiers: bounded, no NUL (docs/guarantees.md#hostile-input).
  Got get_identifier(od::value& v, const Path& p, std::string& out, bool allow_null) {
    std::string_view s;
    Got g = get_string(v, p, s, allow_null);
    if (g != Got::value) return g;
    if (s.size() > limits_.max_identifier_bytes) {
      fail(RejectReason::invalid_value, p,
           "longer than " + std::to_string(limits_.max_identifier_bytes) + " bytes");
      return Got::error;
    }
    if (s.find('\0') != std::string_view::npos) {
      fail(RejectReason::invalid_value, p, "contains a NUL character");
      return Got::error;
    }
    out.assign(s);
    return Got::value;
  }
  // Free text: kept, truncated past max_text_bytes (RFC notes §6.5 case 101).
  Got get_text(od::value& v, const Path& p, std::string& out, bool allow_null) {
    std::string_view s;
    Got g = get_string(v, p, s, allow_null);
    if (g != Got::value) return g;
    out.assign(s);
    if (out.size() > limits_.max_text_bytes) {
      out.resize(cut_utf8(out, limits_.max_text_bytes).size());
      note(note::kTextTruncated, p, "cut to " + std::to_string(out.size()) + " bytes");
    }
    return Got::value;
  }
  // RFC 8460 §4.4: session counts are non-negative integers; I-JSON caps them at 2^53-1.
  bool get_count(od::value& v, const Path& p, Count& out) {
    od::json_type t;
    if (!type_of(v, p, t)) return false;
    if (t != od::json_type::number)
      return fail(RejectReason::invalid_count, p,
                  "a session count must be a non-negative integer, got " + std::string(type_name(t)));
    std::string_view raw = trim(v.raw_json_token());
    od::number n;
    if (v.get_number().get(n)) {
      bool digits = !raw.empty() && std::all_of(raw.begin() + (raw[0] == '-'), raw.end(),
                                                [](char c) { return c >= '0' && c <= '9'; });
      if (digits && raw[0] == '-')
        return fail(RejectReason::invalid_count, p, "a session count must not be negative, got " + std::string(raw.substr(0, 32)));
      // RFC 8259 §6: no leading zeros; "007" is not JSON, whatever its size.
      if (digits && raw.size() > 1 && raw[0] == '0')
        return fail(RejectReason::invalid_count, p, "a number must not have leading zeros, got " + std::string(raw.substr(0, 32)));
      if (digits)
        return fail(RejectReason::count_too_large, p, "session count " + std::string(raw.substr(0, 32)) + " is above 2^53-1");
      return fail(RejectReason::invalid_count, p, "invalid number " + quote_value(raw));
    }
    switch (n.get_number_type()) {
      case od::number_type::floating_point_number:
        return fail(RejectReason::invalid_count, p,
                    "a session count must be an integer, got " + std::string(raw.substr(0, 32)));
      case od::number_type::signed_integer:
        if (n.get_int64() < 0)
          return fail(RejectReason::invalid_count, p,
                      "a session count must not be negative, got " + std::to_string(n.get_int64()));
        out = static_cast<Count>(n.get_int64());
        break;
      case od::number_type::unsigned_integer: out = n.get_uint64(); break;
      default:
        return fail(RejectReason::count_too_large, p, "session count " + std::string(raw.substr(0, 32)) + " is above 2^53-1");
    }
    if (out > kMaxCount)
      return fail(RejectReason::count_too_large, p, "session count " + std::to_string(out) + " is above 2^53-1");
    return true;
  }

  // Walks (and so validates) a value we do not interpret.
  bool skip(od::value& v, const Path& p, std::size_t depth) {
    if (depth > limits_.max_json_depth)
      return fail(RejectReason::too_deep, p, "nesting deeper than " + std::to_string(limits_.max_json_depth) + " levels");
    od::json_type t;
    if (!type_of(v, p, t)) return false;
    switch (t) {
      case od::json_type::object: {
        od::object obj;
        if (auto e = v.get_object().get(obj)) return json_fail(e, p);
        for (auto field : obj) {
          std::string_view key;
          od::value child;
          if (auto e = field.unescaped_key().get(key)) return json_fail(e, p);
          Path cp = p.child(key);
          if (auto e = field.value().get(child)) return json_fail(e, cp);
          if (!count_value(cp) || !skip(child, cp, depth + 1)) return false;
        }
        return true;
      }
      case od::json_type::array: {
        od::array arr;
        if (auto e = v.get_array().get(arr)) return json_fail(e, p);
        std::size_t i = 0;
        for (auto el : arr) {
          od::value child;
          Path cp = p.at(i++);
          if (auto e = el.get(child)) return json_fail(e, cp);
          if (!count_value(cp) || !skip(child, cp, depth + 1)) return false;
        }
        return true;
      }
      case od::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return json_fail(e, p);
        return true;
      }
      case od::json_type::number: {
        od::number n;
        if (auto e = v.get_number().get(n)) return json_fail(e, p);
        return true;
      }
      case od::json_type::boolean: {
        bool b;
        if (auto e = v.get_bool().get(b)) return json_fail(e, p);
        return true;
      }
      case od::json_type::null: {
        bool is_null = false;
        if (auto e = v.is_null().get(is_null)) return json_fail(e, p);
        if (!is_null) return fail(RejectReason::not_json, p, "not valid JSON (bad literal)");
        return true;
      }
    }
    return true;
  }
  bool unknown_member(od::value& v, const Path& p, std::size_t depth) {
    note(note::kUnknownMember, p);
    return skip(v, p, depth);
  }

  // Iterates the members of an object value: f(key, value, path) -> bool.
  template <class F>
  bool for_members(od::value& v, const Path& p, F&& f) {
    od::json_type t;
    if (!type_of(v, p, t)) return false;
    if (t != od::json_type::object)
      return fail(RejectReason::wrong_type, p, "expected an object, got " + std::string(type_name(t)));
    od::object obj;
    if (auto e = v.get_object().get(obj)) return json_fail(e, p);
    for (auto field : obj) {
      std::string_view key;
      od::value child;
      if (auto e = field.unescaped_key().get(key)) return json_fail(e, p);
      Path cp = p.child(key);
      if (auto e = field.value().get(child)) return json_fail(e, cp);
      if (!count_value(cp)) return false;
      if (!f(key, child, cp)) return false;
    }
    return true;
  }
  // Iterates the elements of an array value: f(value, path, index) -> bool.
  template <class F>
  bool for_elements(od::value& v, const Path& p, F&& f) {
    od::array arr;
    if (auto e = v.get_array().get(arr)) return json_fail(e, p);
    std::size_t i = 0;
    for (auto el : arr) {
      od::value child;
      Path cp = p.at(i);
      if (auto e = el.get(child)) return json_fail(e, cp);
      if (!count_value(cp)) return false;
      if (!f(child, cp, i)) return false;
      ++i;
    }
    return true;
  }

  // ---- the schema -----------------------------------------------------------------
  bool walk_date_range(od::value& v, const Path& p, DateRange& out);
  bool walk_datetime(od::value& v, const Path& p, SysSeconds& out);
  bool walk_policies(od::value& v, const Path& p, std::vector<PolicyResult>& out);
  bool walk_policy_result(od::value& v, const Path& p, PolicyResult& out, Count& detailed);
  bool walk_policy(od::value& v, const Path& p, Policy& out);
  bool walk_string_list(od::value& v, const Path& p, std::vector<std::string>& out, bool& was_string,
                        std::size_t depth);
  bool walk_summary(od::value& v, const Path& p, Summary& out);
  bool walk_failures(od::value& v, const Path& p, std::vector<FailureDetail>& out);
  bool walk_failure(od::value& v, const Path& p, FailureDetail& out);
  bool optional_field(od::value& child, const Path& cp, std::optional<std::string>& dst, bool identifier);
  void settle_result_type(const Path& p, const std::string* token, FailureDetail& out);
  void normalise_failure_hosts(const Path& p, FailureDetail& out);
  bool normalize_policy(const Path& p, Policy& policy, bool strings_was_string, bool mx_was_string);
  bool unpack_tlsa(const Path& p, Policy& policy);
  bool check_counts(const Path& p, PolicyResult& pr, bool had_failure_details, Count& detailed);

  const Limits& limits_;
  ReportParser::Impl& impl_;
  std::vector<Note>& notes_;
  std::size_t values_ = 0;
  std::size_t failure_details_ = 0;
};

bool Walker::walk_document(od::document& doc, Report& r) {
  const Path root;
  od::json_type t;
  if (auto e = doc.type().get(t)) return json_fail(e, root);
  if (t != od::json_type::object)
    return fail(RejectReason::wrong_type, root, "the report must be a JSON object, got " + std::string(type_name(t)));
  od::object obj;
  if (auto e = doc.get_object().get(obj)) return json_fail(e, root);

  bool seen_org = false, seen_range = false, seen_contact = false, seen_id = false, seen_policies = false;
  for (auto field : obj) {
    std::string_view key;
    od::value v;
    if (auto e = field.unescaped_key().get(key)) return json_fail(e, root);
    Path p = root.child(key);
    if (auto e = field.value().get(v)) return json_fail(e, p);
    if (!count_value(p)) return false;
    if (key == "organization-name") {
      if (!duplicate(seen_org, key, root) || get_identifier(v, p, r.organization_name, false) == Got::error)
        return false;
    } else if (key == "date-range") {
      if (!duplicate(seen_range, key, root) || !walk_date_range(v, p, r.date_range)) return false;
    } else if (key == "contact-info") {
      if (!duplicate(seen_contact, key, root)) return false;
      std::string s;
      Got g = get_identifier(v, p, s, true);
      if (g == Got::error) return false;
      if (g == Got::null) {
        note(note::kContactInfoNull, p);  // quirk(stalwart): "contact-info": null
      } else {
        // RFC 8460 §4.4: an addr-spec. Tolerate "mailto:" URIs and "Name <addr>".
        std::string addr = s;
        if (addr.size() > 7 && iequals(std::string_view(addr).substr(0, 7), "mailto:")) addr = addr.substr(7);
        auto lt = addr.find('<');
        auto gt = addr.rfind('>');
        if (lt != std::string::npos && gt != std::string::npos && gt > lt) addr = addr.substr(lt + 1, gt - lt - 1);
        addr = std::string(trim(addr));
        if (addr != s) note(note::kContactInfoForm, p, quote_value(s));
        r.contact_info = std::move(addr);
      }
    } else if (key == "report-id") {
      if (!duplicate(seen_id, key, root) || get_identifier(v, p, r.report_id, false) == Got::error) return false;
    } else if (key == "policies") {
      if (!duplicate(seen_policies, key, root) || !walk_policies(v, p, r.policies)) return false;
    } else {
      if (!unknown_member(v, p, 2)) return false;
    }
  }
  if (!seen_org) return fail(RejectReason::missing_field, root, "missing \"organization-name\"");
  if (!seen_range) return fail(RejectReason::missing_field, root, "missing \"date-range\"");
  if (!seen_id) return fail(RejectReason::missing_field, root, "missing \"report-id\"");
  if (!seen_policies) return fail(RejectReason::missing_field, root, "missing \"policies\"");
  if (!seen_contact) note(note::kContactInfoMissing, root);
  if (trim(r.organization_name).empty())
    return fail(RejectReason::invalid_value, root.child("organization-name"), "must not be empty");
  if (trim(r.report_id).empty()) return fail(RejectReason::invalid_value, root.child("report-id"), "must not be empty");
  if (r.policies.empty()) note(note::kNoPolicies, root.child("policies"));

  // Trailing bytes after the top-level object.
  if (!doc.current_location().error())
    return fail(RejectReason::not_json, root, "not valid JSON (data after the report object)");
  return true;
}

bool Walker::walk_datetime(od::value& v, const Path& p, SysSeconds& out) {
  std::string_view s;
  if (get_string(v, p, s, false) != Got::value) return false;
  auto dt = parse_rfc3339(s);
  if (!dt) return fail(RejectReason::invalid_datetime, p, quote_value(s) + " is " + dt.error());
  if (!dt->had_zone) note(note::kDatetimeWithoutZone, p, "read as UTC");  // quirk(microsoft)
  if (!dt->utc) note(note::kDatetimeNotUtc, p, quote_value(s));
  if (dt->had_fraction) note(note::kDatetimeFraction, p);
  out = dt->time;
  return true;
}

bool Walker::walk_date_range(od::value& v, const Path& p, DateRange& out) {
  bool seen_start = false, seen_end = false;
  bool ok = for_members(v, p, [&](std::string_view key, od::value& child, const Path& cp) {
    if (key == "start-datetime") return duplicate(seen_start, key, p) && walk_datetime(child, cp, out.start);
    if (key == "end-datetime") return duplicate(seen_end, key, p) && walk_datetime(child, cp, out.end);
    return unknown_member(child, cp, 3);
  });
  if (!ok) return false;
  if (!seen_start) return fail(RejectReason::missing_field, p, "missing \"start-datetime\"");
  if (!seen_end) return fail(RejectReason::missing_field, p, "missing \"end-datetime\"");
  if (out.end < out.start)
    return fail(RejectReason::invalid_value, p,
                "end-datetime " + format_rfc3339(out.end) + " is before start-datetime " + format_rfc3339(out.start));
  // RFC 8460 §4.1: a report SHOULD cover one full UTC day. Senders end it either at
  // 23:59:59 (Google, Microsoft) or at the next midnight (Mail.ru, Stalwart).
  using namespace std::chrono;
  bool midnight = floor<days>(out.start) == out.start;
  bool one_day = midnight && (out.end == out.start + days{1} || out.end == out.start + days{1} - seconds{1});
  if (!one_day)
    note(note::kDateRangeNotOneDay, p, format_rfc3339(out.start) + " to " + format_rfc3339(out.end));
  return true;
}

bool Walker::walk_policies(od::value& v, const Path& p, std::vector<PolicyResult>& out) {
  od::json_type t;
  if (!type_of(v, p, t)) return false;
  // RFC 8460 §4: "policies" MUST be an array, even with one policy.
  if (t != od::json_type::array)
    return fail(RejectReason::wrong_type, p, "must be an array (RFC 8460 §4), got " + std::string(type_name(t)));
  // Checked after each policy: at most the limit (configurable up to 2^60) plus two
  // counts of at most 2^53-1, so the sum cannot overflow. The failure-details' counts
  // are bounded the same way on their own (check_counts saturates their sum).
  Count sessions = 0, detailed = 0;
  return for_elements(v, p, [&](od::value& el, const Path& ep, std::size_t) {
    if (out.size() >= limits_.max_policies)
      return fail(RejectReason::too_many_items, p, "more than " + std::to_string(limits_.max_policies) + " policies");
    PolicyResult& pr = out.emplace_back();
    if (!walk_policy_result(el, ep, pr, detailed)) return false;
    sessions += pr.summary.successful + pr.summary.failed;
    if (sessions > limits_.max_sessions_per_report)
      return fail(RejectReason::count_too_large, ep.child("summary"),
                  "the report's session counts add up to more than " +
                      std::to_string(limits_.max_sessions_per_report) + " (limits.max_sessions_per_report)");
    return true;
  });
}

bool Walker::walk_policy_result(od::value& v, const Path& p, PolicyResult& out, Count& detailed) {
  bool seen_policy = false, seen_summary = false, seen_failures = false;
  bool ok = for_members(v, p, [&](std::string_view key, od::value& child, const Path& cp) {
    if (key == "policy") return duplicate(seen_policy, key, p) && walk_policy(child, cp, out.policy);
    if (key == "summary") return duplicate(seen_summary, key, p) && walk_summary(child, cp, out.summary);
    if (key == "failure-details") return duplicate(seen_failures, key, p) && walk_failures(child, cp, out.failures);
    return unknown_member(child, cp, 4);
  });
  if (!ok) return false;
  if (!seen_policy) return fail(RejectReason::missing_field, p, "missing \"policy\"");
  if (!seen_summary) return fail(RejectReason::missing_field, p, "missing \"summary\"");
  return check_counts(p, out, seen_failures, detailed);
}

// `detailed`: the failed-session-counts of the report's failure-details so far, which
// may add up to limits.max_sessions_per_report like the summaries (count_too_large).
bool Walker::check_counts(const Path& p, PolicyResult& pr, bool had_failure_details, Count& detailed) {
  // RFC 8460 §4: failure types are non-exclusive and transient failures need not be
  // detailed, so the sum may differ from the total: noted, never refused.
  Count sum = 0;  // saturating: 10k counts of 2^53-1 would wrap a uint64
  for (const auto& f : pr.failures) sum = std::min(kSaturated, sum + std::min(kMaxCount, f.failed_session_count));
  detailed = std::min(kSaturated, detailed + sum);
  if (detailed > limits_.max_sessions_per_report)
    return fail(RejectReason::count_too_large, p.child("failure-details"),
                "the report's failed-session-counts add up to more than " +
                    std::to_string(limits_.max_sessions_per_report) + " (limits.max_sessions_per_report)");
  if (!pr.failures.empty()) {
    if (sum != pr.summary.failed)
      note(note::kFailureSumMismatch, p,
           "failed-session-count adds up to " + std::to_string(sum) + ", total-failure-session-count is " +
               std::to_string(pr.summary.failed));  // quirk(mailru)
  } else if (pr.summary.failed > 0) {
    note(note::kFailureDetailsAbsent, p,
         had_failure_details ? "failure-details is empty" : "failure-details is absent");
  }
  return true;
}

bool Walker::walk_string_list(od::value& v, const Path& p, std::vector<std::string>& out, bool& was_string,
                              std::size_t depth) {
  od::json_type t;
  if (!type_of(v, p, t)) return false;
  if (t == od::json_type::null) {
    note(note::kNullMember, p);
    return true;
  }
  if (t == od::json_type::string) {
    std::string s;
    if (get_text(v, p, s, false) == Got::error) return false;
    was_string = true;
    out.push_back(std::move(s));
    return true;
  }
  if (t != od::json_type::array)
    return fail(RejectReason::wrong_type, p, "expected an array of strings, got " + std::string(type_name(t)));
  return for_elements(v, p, [&](od::value& el, const Path& ep, std::size_t) {
    if (out.size() >= limits_.max_policy_strings)
      return fail(RejectReason::too_many_items, p,
                  "more than " + std::to_string(limits_.max_policy_strings) + " entries");
    if (depth + 1 > limits_.max_json_depth) return fail(RejectReason::too_deep, ep, "nesting too deep");
    std::string s;
    if (get_text(el, ep, s, false) == Got::error) return false;
    out.push_back(std::move(s));
    return true;
  });
}

bool Walker::walk_policy(od::value& v, const Path& p, Policy& out) {
  bool seen_type = false, seen_strings = false, seen_domain = false, seen_mx = false;
  bool strings_was_string = false, mx_was_string = false;
  std::string type_token;
  bool ok = for_members(v, p, [&](std::string_view key, od::value& child, const Path& cp) {
    if (key == "policy-type") {
      return duplicate(seen_type, key, p) && get_identifier(child, cp, type_token, false) != Got::error;
    }
    if (key == "policy-string")
      return duplicate(seen_strings, key, p) && walk_string_list(child, cp, out.strings, strings_was_string, 5);
    if (key == "policy-domain") {
      if (!duplicate(seen_domain, key, p)) return false;
      Got g = get_identifier(child, cp, out.domain, true);
      if (g == Got::null) note(note::kNullMember, cp);
      return g != Got::error;
    }
    if (key == "mx-host")
      return duplicate(seen_mx, key, p) && walk_string_list(child, cp, out.mx_hosts, mx_was_string, 5);
    return unknown_member(child, cp, 5);
  });
  if (!ok) return false;
  if (!seen_type) return fail(RejectReason::missing_field, p, "missing \"policy-type\"");

  out.type = policy_type_from_token(type_token);
  if (!out.type.known()) {
    auto lowered = policy_type_from_token(ascii_lower(type_token));
    if (lowered.known()) {
      out.type = lowered;
      note(note::kTokenCase, p.child("policy-type"), quote_value(type_token));
    } else {
      note(note::kUnknownPolicyType, p.child("policy-type"), quote_value(type_token));
    }
  }
  if (out.domain.empty()) {
    // quirk(tlsrpt-reporter): no-policy-found entries without a policy-domain.
    note(note::kPolicyDomainMissing, p);
  }
  return normalize_policy(p, out, strings_was_string, mx_was_string);
}

// Every normalisation here is a fixpoint: the canonical JSON of the result reads
// back to the same policy (the content hash is the dedupe identity), and stays
// within the limits the original had to meet.
bool Walker::normalize_policy(const Path& p, Policy& policy, bool strings_was_string, bool mx_was_string) {
  const Path sp = p.child("policy-string");
  if (strings_was_string && !policy.strings.empty()) {
    // RFC 8460 §4.4 says array; §4's overview describes a TLSA set as one string
    // "separated by a semicolon". Split leniently: ';' for tlsa, lines for sts.
    std::string whole = std::move(policy.strings.front());
    policy.strings.clear();
    char sep = policy.type.value == PolicyType::tlsa ? ';' : '\n';
    std::size_t start = 0;
    while (start <= whole.size()) {
      std::size_t end = whole.find(sep, start);
      std::string part = std::string(trim(std::string_view(whole).substr(start, end == std::string::npos ? std::string::npos : end - start)));
      if (!part.empty()) policy.strings.push_back(std::move(part));
      if (policy.strings.size() > limits_.max_policy_strings)
        return fail(RejectReason::too_many_items, sp, "more than " + std::to_string(limits_.max_policy_strings) + " entries");
      if (end == std::string::npos) break;
      start = end + 1;
    }
    note(note::kPolicyStringNotArray, sp);
  }
  bool trimmed = false;
  for (auto& s : policy.strings) trim_trailing_newlines(s, trimmed);
  if (trimmed) note(note::kPolicyStringTrailingCr, sp);  // quirk(google): CRLF policy file lines

  if (policy.type.value == PolicyType::tlsa && !unpack_tlsa(p, policy)) return false;

  const Path mp = p.child("mx-host");
  if (mx_was_string) note(note::kMxHostString, mp);  // quirk(rfc8460): erratum 6241, App. B uses a string
  bool prefixed = false;
  for (auto& mx : policy.mx_hosts) {
    std::string_view t = trim(mx);
    while (t.size() > 3 && iequals(t.substr(0, 3), "mx:")) {
      t = trim(t.substr(3));  // quirk(stalwart): "mx: host" inside mx-host
      prefixed = true;
    }
    std::string m = ascii_lower(t);
    while (!m.empty() && m.back() == '.') m.pop_back();
    mx = std::move(m);
  }
  std::erase_if(policy.mx_hosts, [](const std::string& s) { return s.empty(); });
  if (prefixed) note(note::kMxHostPrefix, mp);

  if (!policy.domain.empty()) {
    const Path dp = p.child("policy-domain");
    auto norm = normalize_domain(trim(policy.domain));
    // A policy domain is a host name (RFC 8460 §4.4 "policy-domain", RFC 1123): what
    // is not one (CR/LF, quotes, markup) would reach stats, metrics and alerts as a
    // domain, so the report is refused, like any other field that breaks the RFC.
    if (!norm) return fail(RejectReason::invalid_value, dp, "not a domain name: " + norm.error());
    if (!is_valid_hostname(*norm))
      return fail(RejectReason::invalid_value, dp,
                  "not a host name (letters, digits and hyphens; IDN as A-labels): " + quote_value(policy.domain));
    if (*norm != policy.domain) {
      bool only_case_or_dot = ascii_lower(policy.domain) == *norm || ascii_lower(policy.domain) == *norm + ".";
      if (!only_case_or_dot) note(note::kPolicyDomainNormalised, dp, quote_value(policy.domain) + " -> " + quote_value(*norm));
      policy.domain = std::move(*norm);
    }
  }
  return true;
}

// quirk(microsoft): the TLSA RRset arrives as ONE policy-string entry holding a
// JSON-encoded array: ["[\"3 1 1 6007EE...\",\"3 1 1 837C...\"]"]. Also accepted:
// the RFC 8460 §4 overview's ';'-separated list in one entry. What unpacking yields
// is unpacked again until nothing is left to unpack (a TLSA RR holds neither ';' nor
// a JSON array), so reading the result back changes nothing.
bool Walker::unpack_tlsa(const Path& p, Policy& policy) {
  const Path sp = p.child("policy-string");
  std::vector<std::string> out;
  // A stack with the first string on top: parts replace their whole, in order.
  std::vector<std::string> todo(std::make_move_iterator(policy.strings.rbegin()),
                                std::make_move_iterator(policy.strings.rend()));
  bool packed = false, semicolons = false;
  while (!todo.empty()) {
    std::string s = std::move(todo.back());
    todo.pop_back();
    std::string t(trim(s));
    std::vector<std::string> parts;
    if (t.size() >= 2 && t.front() == '[' && t.back() == ']') {
      simdjson::padded_string ps(t);
      od::document doc;
      od::array arr;
      bool ok = !impl_.aux.iterate(ps).get(doc) && !doc.get_array().get(arr);
      if (ok) {
        for (auto el : arr) {
          std::string_view item;
          if (el.get_string().get(item) || parts.size() >= limits_.max_policy_strings) {
            ok = false;
            break;
          }
          parts.push_back(std::string(trim(item)));
        }
      }
      if (!ok) {
        out.push_back(std::move(s));
        continue;
      }
      packed = true;
    } else if (t.find(';') != std::string::npos) {
      semicolons = true;
      std::size_t start = 0;
      while (start <= t.size()) {
        std::size_t end = t.find(';', start);
        std::string part = std::string(trim(std::string_view(t).substr(start, end == std::string::npos ? std::string::npos : end - start)));
        if (!part.empty()) parts.push_back(std::move(part));
        if (end == std::string::npos) break;
        start = end + 1;
      }
    } else {
      out.push_back(std::move(s));
      continue;
    }
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) todo.push_back(std::move(*it));
    if (out.size() + todo.size() > limits_.max_policy_strings)
      return fail(RejectReason::too_many_items, sp, "more than " + std::to_string(limits_.max_policy_strings) + " entries");
  }
  if (packed) note(note::kTlsaPackedInString, sp, std::to_string(out.size()) + " TLSA records unpacked");
  if (semicolons) note(note::kTlsaSemicolonList, sp);
  policy.strings = std::move(out);
  return true;
}

bool Walker::walk_summary(od::value& v, const Path& p, Summary& out) {
  bool seen_ok = false, seen_fail = false;
  bool ok = for_members(v, p, [&](std::string_view key, od::value& child, const Path& cp) {
    if (key == "total-successful-session-count")
      return duplicate(seen_ok, key, p) && get_count(child, cp, out.successful);
    if (key == "total-failure-session-count")
      return duplicate(seen_fail, key, p) && get_count(child, cp, out.failed);
    return unknown_member(child, cp, 5);
  });
  if (!ok) return false;
  // quirk(mail-auth): a summary without one of its counts is read as 0.
  if (!seen_ok) note(note::kSummaryCountMissing, p, "total-successful-session-count missing, read as 0");
  if (!seen_fail) note(note::kSummaryCountMissing, p, "total-failure-session-count missing, read as 0");
  return true;
}

bool Walker::walk_failures(od::value& v, const Path& p, std::vector<FailureDetail>& out) {
  od::json_type t;
  if (!type_of(v, p, t)) return false;
  if (t == od::json_type::null) {
    note(note::kNullMember, p);
    return true;
  }
  if (t != od::json_type::array)
    return fail(RejectReason::wrong_type, p, "expected an array, got " + std::string(type_name(t)));
  return for_elements(v, p, [&](od::value& el, const Path& ep, std::size_t) {
    if (++failure_details_ > limits_.max_failure_details)
      return fail(RejectReason::too_many_items, p,
                  "more than " + std::to_string(limits_.max_failure_details) + " failure-details in the report");
    return walk_failure(el, ep, out.emplace_back());
  });
}

bool Walker::walk_failure(od::value& v, const Path& p, FailureDetail& out) {
  struct Seen {
    bool result_type = false, sending_ip = false, mx = false, helo = false, receiving_ip = false, count = false,
         info = false, reason = false;
  } seen;
  std::string result_token;
  // Values under misspelled or draft-era names, used when the right name is absent.
  std::optional<std::string> alt_mx, alt_info, alt_reason;
  auto opt = [&](od::value& child, const Path& cp, std::optional<std::string>& dst, bool identifier) {
    return optional_field(child, cp, dst, identifier);
  };
  bool ok = for_members(v, p, [&](std::string_view key, od::value& child, const Path& cp) {
    if (key == "result-type")
      return duplicate(seen.result_type, key, p) && get_identifier(child, cp, result_token, false) != Got::error;
    if (key == "sending-mta-ip") return duplicate(seen.sending_ip, key, p) && opt(child, cp, out.sending_mta_ip, true);
    if (key == "receiving-mx-hostname")
      return duplicate(seen.mx, key, p) && opt(child, cp, out.receiving_mx_hostname, true);
    if (key == "receiving-mx-helo") return duplicate(seen.helo, key, p) && opt(child, cp, out.receiving_mx_helo, false);
    if (key == "receiving-ip") return duplicate(seen.receiving_ip, key, p) && opt(child, cp, out.receiving_ip, true);
    if (key == "failed-session-count")
      return duplicate(seen.count, key, p) && get_count(child, cp, out.failed_session_count);
    if (key == "additional-information")
      return duplicate(seen.info, key, p) && opt(child, cp, out.additional_information, false);
    if (key == "failure-reason-code")
      return duplicate(seen.reason, key, p) && opt(child, cp, out.failure_reason_code, false);
    if (key == "receiving-mx-host-name") {  // quirk(socketlabs)
      note(note::kMisspelledMember, cp, "read as receiving-mx-hostname");
      return opt(child, cp, alt_mx, true);
    }
    if (key == "additional-info-uri") {  // quirk(rfc8460): the ABNF name, not the member name
      note(note::kMisspelledMember, cp, "read as additional-information");
      return opt(child, cp, alt_info, false);
    }
    if (key == "failure-error-code") {  // quirk(rfc8460-draft): draft-era name
      note(note::kMisspelledMember, cp, "read as failure-reason-code");
      return opt(child, cp, alt_reason, false);
    }
    return unknown_member(child, cp, 6);
  });
  if (!ok) return false;
  if (!out.receiving_mx_hostname && alt_mx) out.receiving_mx_hostname = std::move(alt_mx);
  if (!out.additional_information && alt_info) out.additional_information = std::move(alt_info);
  if (!out.failure_reason_code && alt_reason) out.failure_reason_code = std::move(alt_reason);
  settle_result_type(p, seen.result_type ? &result_token : nullptr, out);
  if (!seen.count) note(note::kFailureFieldMissing, p, "failed-session-count missing, read as 0");
  normalise_failure_hosts(p, out);
  return true;
}

// An optional string member of a failure-detail: null and "" are noted and leave it unset.
bool Walker::optional_field(od::value& child, const Path& cp, std::optional<std::string>& dst, bool identifier) {
  std::string s;
  Got g = identifier ? get_identifier(child, cp, s, true) : get_text(child, cp, s, true);
  if (g == Got::error) return false;
  if (g == Got::null) {
    note(note::kNullMember, cp);
    return true;
  }
  if (trim(s).empty()) {
    note(note::kEmptyField, cp);  // quirk(parsedmarc): "" for unknown values
    return true;
  }
  dst = std::move(s);
  return true;
}

// The result-type token (nullptr: the member was missing): known, known but in the
// wrong case, or kept as an unknown token; each deviation noted.
void Walker::settle_result_type(const Path& p, const std::string* token, FailureDetail& out) {
  if (!token) {
    note(note::kFailureFieldMissing, p, "result-type missing, recorded as \"unspecified\"");
    out.result_type = {ResultType::unknown, "unspecified"};
    return;
  }
  out.result_type = result_type_from_token(*token);
  if (out.result_type.known()) return;
  auto lowered = result_type_from_token(ascii_lower(*token));
  if (lowered.known()) {
    out.result_type = lowered;
    note(note::kTokenCase, p.child("result-type"), quote_value(*token));
  } else {
    note(note::kUnknownResultType, p.child("result-type"), quote_value(*token));
  }
}

// IP addresses in canonical form (kept as sent when invalid), the MX host name in
// lower case without a trailing dot.
void Walker::normalise_failure_hosts(const Path& p, FailureDetail& out) {
  for (auto [field, name] : {std::pair{&out.sending_mta_ip, "sending-mta-ip"}, std::pair{&out.receiving_ip, "receiving-ip"}}) {
    if (!*field) continue;
    auto ip = canonical_ip(trim(**field));
    if (!ip) {
      note(note::kInvalidIp, p.child(name), quote_value(**field) + " kept as sent");
    } else if (*ip != **field) {
      note(note::kIpNormalised, p.child(name), quote_value(**field) + " -> " + *ip);
      **field = std::move(*ip);
    }
  }
  if (out.receiving_mx_hostname) {
    std::string h = ascii_lower(trim(*out.receiving_mx_hostname));
    while (!h.empty() && h.back() == '.') h.pop_back();
    out.receiving_mx_hostname = std::move(h);
  }
}

}  // namespace

ReportParser::ReportParser(const Limits& limits)
    : impl_(std::make_unique<Impl>(limits.max_report_bytes + kPadding)), limits_(limits) {}
ReportParser::~ReportParser() = default;
ReportParser::ReportParser(ReportParser&&) noexcept = default;
ReportParser& ReportParser::operator=(ReportParser&&) noexcept = default;

std::expected<ParsedReport, Error> ReportParser::parse(std::string_view json, std::size_t capacity) {
  ParsedReport out;
  // RFC 8259 §8.1 forbids a BOM, but tolerates ignoring one.
  if (json.size() >= 3 && std::memcmp(json.data(), "\xEF\xBB\xBF", 3) == 0) {
    json.remove_prefix(3);
    if (capacity >= 3) capacity -= 3;
    out.notes.push_back(Note{std::string(note::kUtf8Bom), "", "byte order mark ignored"});
  }
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return std::unexpected(Error{RejectReason::empty, "", "empty document"});
  if (json.size() > limits_.max_report_bytes)
    return std::unexpected(Error{RejectReason::too_large, "",
                                 "report is larger than " + std::to_string(limits_.max_report_bytes) + " bytes"});

  simdjson::padded_string_view input;
  if (capacity >= json.size() + kPadding) {
    input = simdjson::padded_string_view(json.data(), json.size(), capacity);
  } else {
    impl_->padded.reserve(json.size() + kPadding);
    impl_->padded.assign(json);
    input = simdjson::padded_string_view(impl_->padded.data(), impl_->padded.size(), impl_->padded.capacity());
  }

  Walker walker(limits_, *impl_, out.notes);
  od::document doc;
  auto iterate_error = impl_->parser.iterate(input).get(doc);
  if (iterate_error) {
    Error err{RejectReason::not_json, "", "not valid JSON"};
    if (iterate_error == simdjson::UTF8_ERROR) err = {RejectReason::invalid_utf8, "", "not valid UTF-8"};
    else if (iterate_error == simdjson::UNESCAPED_CHARS)
      err = {RejectReason::not_json, "", "not valid JSON (unescaped control character in a string)"};
    else if (iterate_error == simdjson::EMPTY) err = {RejectReason::empty, "", "empty document"};
    else if (iterate_error == simdjson::CAPACITY)
      err = {RejectReason::too_large, "", "document larger than the parser capacity"};
    return std::unexpected(std::move(err));
  }
  if (!walker.walk_document(doc, out.report)) return std::unexpected(std::move(*walker.error));
  return out;
}

}  // namespace tlsrpt
