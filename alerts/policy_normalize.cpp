#include "alerts/policy_normalize.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include "parser/text.hpp"

namespace tlsrpt::alerts {
namespace {

// C's isspace set: policy files are hand-written text.
constexpr std::string_view kSpace = " \t\r\n\v\f";

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

void sort_unique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string normalize_mx_name(std::string_view name) {
  std::string n = ascii_lower(trim(name, kSpace));
  if (!n.empty() && n.back() == '.') n.pop_back();
  return n;
}

StsPolicy normalize_sts(const std::vector<std::string>& policy_strings, const std::vector<std::string>& mx_hosts) {
  StsPolicy out;
  std::map<std::string, std::string> first;  // non-repeated fields: the first value wins
  std::vector<std::string> others;
  for (const auto& s : policy_strings) {
    std::string_view rest(s);
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      std::string_view line = trim(rest.substr(0, nl), kSpace);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      if (line.empty()) continue;
      auto colon = line.find(':');
      if (colon == std::string_view::npos) {
        others.emplace_back(line);
        continue;
      }
      std::string key = ascii_lower(trim(line.substr(0, colon), kSpace));
      std::string_view value = trim(line.substr(colon + 1), kSpace);
      if (key == "mx") {
        std::string mx = normalize_mx_name(value);
        if (!mx.empty()) out.mx.push_back(std::move(mx));
      } else if (!first.contains(key)) {
        first.emplace(key, key == "mode" ? ascii_lower(value) : std::string(value));
      }
    }
  }
  for (const auto& m : mx_hosts) {
    std::string mx = normalize_mx_name(m);
    if (!mx.empty()) out.mx.push_back(std::move(mx));
  }
  sort_unique(out.mx);
  if (auto it = first.find("mode"); it != first.end()) out.mode = it->second;

  // Canonical order: version, mode, mx (sorted), max_age, then anything else.
  auto take = [&](const std::string& key) {
    if (auto it = first.find(key); it != first.end()) {
      out.lines.push_back(key + ": " + it->second);
      first.erase(it);
    }
  };
  take("version");
  take("mode");
  for (const auto& mx : out.mx) out.lines.push_back("mx: " + mx);
  take("max_age");
  for (const auto& [k, v] : first) out.lines.push_back(k + ": " + v);
  sort_unique(others);
  for (auto& o : others) out.lines.push_back(std::move(o));
  return out;
}

std::vector<std::string> normalize_tlsa(const std::vector<std::string>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) {
    std::vector<std::string_view> fields;
    std::string_view rest(r);
    while (!rest.empty()) {
      auto is_sep = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '(' || c == ')'; };
      while (!rest.empty() && is_sep(rest.front())) rest.remove_prefix(1);
      std::size_t n = 0;
      while (n < rest.size() && !is_sep(rest[n])) ++n;
      if (n) fields.push_back(rest.substr(0, n));
      rest.remove_prefix(n);
    }
    if (fields.empty()) continue;
    std::string norm;
    if (fields.size() >= 4 && all_digits(fields[0]) && all_digits(fields[1]) && all_digits(fields[2])) {
      for (int i = 0; i < 3; ++i) {
        std::string_view f = fields[i];
        while (f.size() > 1 && f.front() == '0') f.remove_prefix(1);
        norm.append(f).push_back(' ');
      }
      // RFC 6698 §2.2: whitespace may split the hex in zone files; TLSRPT forbids
      // it, but joining is harmless and makes both forms compare equal.
      for (std::size_t i = 3; i < fields.size(); ++i) norm += upper(fields[i]);
    } else {
      for (auto f : fields) {
        if (!norm.empty()) norm.push_back(' ');
        norm += upper(f);
      }
    }
    out.push_back(std::move(norm));
  }
  sort_unique(out);
  return out;
}

bool mx_pattern_matches(std::string_view pattern, std::string_view host) {
  if (pattern.empty() || host.empty()) return false;
  if (pattern.starts_with("*.")) {
    std::string_view suffix = pattern.substr(1);  // ".example.com"
    if (host.size() <= suffix.size() || !host.ends_with(suffix)) return false;
    std::string_view label = host.substr(0, host.size() - suffix.size());
    return label.find('.') == std::string_view::npos;  // exactly one label
  }
  return pattern == host;
}

bool mx_covered(const std::vector<std::string>& patterns, std::string_view host) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return mx_pattern_matches(p, host); });
}

std::vector<std::string> set_minus(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace tlsrpt::alerts
