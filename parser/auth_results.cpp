#include "parser/auth_results.hpp"

#include <algorithm>

#include "parser/domain.hpp"
#include "parser/text.hpp"

namespace tlsrpt {
namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// RFC 5322 §3.2.2: a comment is "(...)", nested, with quoted-pairs; it is CFWS and
// means nothing here. Quoted strings are kept (a comment inside one is text).
std::string drop_comments(std::string_view v) {
  std::string out;
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '\\' && i + 1 < v.size() && (quoted || depth > 0)) {
      if (depth == 0) {
        out.push_back(c);
        out.push_back(v[i + 1]);
      }
      ++i;
      continue;
    }
    if (depth > 0) {
      if (c == '(') ++depth;
      else if (c == ')' && --depth == 0) out.push_back(' ');
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && c == '(') {
      depth = 1;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// ';'-separated clauses, ignoring ';' inside quoted strings.
std::vector<std::string_view> split_clauses(std::string_view v) {
  std::vector<std::string_view> out;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && quoted) {
      ++i;
      continue;
    }
    if (v[i] == '"') quoted = !quoted;
    else if (v[i] == ';' && !quoted) {
      out.push_back(v.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(v.substr(start));
  return out;
}

struct Token {
  std::string text;
  bool equals = false;        // the "=" sign
  bool space_before = false;  // whitespace separated it from the previous token
};

std::vector<Token> tokenize(std::string_view v) {
  std::vector<Token> out;
  bool space = true;
  for (std::size_t i = 0; i < v.size();) {
    char c = v[i];
    if (is_wsp(c)) {
      space = true;
      ++i;
      continue;
    }
    Token t;
    t.space_before = space;
    space = false;
    if (c == '=') {
      t.equals = true;
      ++i;
    } else if (c == '"') {
      for (++i; i < v.size() && v[i] != '"'; ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) ++i;
        t.text.push_back(v[i]);
      }
      ++i;
    } else {
      while (i < v.size() && !is_wsp(v[i]) && v[i] != '=' && v[i] != '"') t.text.push_back(v[i++]);
    }
    out.push_back(std::move(t));
  }
  return out;
}

// "key = value" pairs of one clause. A value runs on through tokens glued to it, so
// base64 padding survives ("header.b=ab+/=").
std::vector<std::pair<std::string, std::string>> pairs(std::string_view clause) {
  std::vector<std::pair<std::string, std::string>> out;
  auto t = tokenize(clause);
  for (std::size_t i = 0; i + 1 < t.size(); ++i) {
    if (t[i].equals || !t[i + 1].equals) continue;
    std::string key = t[i].text, value;
    std::size_t j = i + 2;
    if (j < t.size() && !t[j].equals) value = t[j++].text;
    while (j < t.size() && !t[j].space_before) value += t[j].equals ? "=" : t[j].text, ++j;
    out.emplace_back(std::move(key), std::move(value));
    i = j - 1;
  }
  return out;
}

std::string_view find_tag(const std::vector<std::pair<std::string, std::string>>& tags, std::string_view name) {
  for (const auto& [k, v] : tags)
    if (k == name) return v;
  return {};
}

bool has_tag(const std::vector<std::pair<std::string, std::string>>& tags, std::string_view name) {
  return std::any_of(tags.begin(), tags.end(), [&](const auto& kv) { return kv.first == name; });
}

// The signing domain an entry names: header.d, else the domain of header.i.
std::string entry_domain(const AuthResultsEntry& e) {
  std::string_view d = e.property("header.d");
  if (d.empty()) {
    std::string_view i = e.property("header.i");
    if (auto at = i.rfind('@'); at != std::string_view::npos) d = i.substr(at + 1);
  }
  return ascii_lower(d);
}

// Whether a DKIM-Signature the entry speaks of uses l= (an entry naming no
// domain speaks of every signature).
bool entry_signature_uses_l(const AuthResultsEntry& e, const std::vector<std::string>& signatures) {
  const std::string d = entry_domain(e);
  const std::string s = ascii_lower(e.property("header.s"));
  const std::string_view b = e.property("header.b");
  for (const auto& sig : signatures) {
    auto tags = parse_dkim_tags(sig);
    if (!d.empty() && ascii_lower(find_tag(tags, "d")) != d) continue;
    if (!s.empty() && ascii_lower(find_tag(tags, "s")) != s) continue;
    if (!b.empty() && !find_tag(tags, "b").starts_with(b)) continue;
    if (has_tag(tags, "l")) return true;
  }
  return false;
}

}  // namespace

std::string_view AuthResultsEntry::property(std::string_view name) const {
  for (const auto& [k, v] : properties)
    if (k == name) return v;
  return {};
}

std::expected<AuthResults, Error> parse_auth_results(std::string_view value) {
  std::string text = drop_comments(value);
  auto clauses = split_clauses(text);
  AuthResults out;
  // authserv-id [ CFWS authres-version ]
  auto head = tokenize(clauses.front());
  if (head.empty() || head.front().equals || head.front().text.empty())
    return std::unexpected(Error{RejectReason::invalid_value, "Authentication-Results", "no authserv-id"});
  out.authserv_id = head.front().text;
  for (std::size_t c = 1; c < clauses.size(); ++c) {
    auto kv = pairs(clauses[c]);
    if (kv.empty()) continue;  // "none", or a clause we cannot read
    AuthResultsEntry e;
    e.method = ascii_lower(kv.front().first.substr(0, kv.front().first.find('/')));
    e.result = ascii_lower(kv.front().second);
    for (std::size_t k = 1; k < kv.size(); ++k) {
      auto& [key, val] = kv[k];
      if (iequals(key, "reason")) e.reason = val;
      else if (key.find('.') != std::string::npos) e.properties.emplace_back(ascii_lower(key), val);
    }
    out.entries.push_back(std::move(e));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_dkim_tags(std::string_view value) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t end = value.find(';', start);
    std::string_view spec = value.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (auto eq = spec.find('='); eq != std::string_view::npos) {
      std::string name, val;
      for (char c : spec.substr(0, eq))
        if (!is_wsp(c)) name.push_back(c);
      // RFC 6376 §3.2: whitespace inside values (folded b=, h=) is not part of them.
      for (char c : spec.substr(eq + 1))
        if (!is_wsp(c)) val.push_back(c);
      if (!name.empty()) out.emplace_back(std::move(name), std::move(val));
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

std::optional<DkimResult> dkim_from_auth_results(const std::vector<std::string>& header_values,
                                                 const std::vector<std::string>& trusted_ids,
                                                 const std::vector<std::string>& dkim_signatures,
                                                 const SignerFilter& aligned) {
  bool trusted_seen = false;
  std::optional<DkimResult> fail, temperror, l_fail;
  for (const auto& hv : header_values) {
    auto ar = parse_auth_results(hv);
    if (!ar) continue;
    if (std::none_of(trusted_ids.begin(), trusted_ids.end(), [&](const std::string& id) { return iequals(id, ar->authserv_id); }))
      continue;
    trusted_seen = true;
    for (const auto& e : ar->entries) {
      if (e.method != "dkim") continue;
      DkimResult r;
      r.domain = entry_domain(e);
      r.selector = std::string(e.property("header.s"));
      r.verifier = ar->authserv_id;
      if (e.result == "pass") {
        if (entry_signature_uses_l(e, dkim_signatures)) {
          // RFC 8460 §3: "DKIM signatures MUST NOT use the "l=" attribute".
          r.status = DkimResult::Status::fail;
          r.reason = "the passing signature (d=" + r.domain + ") uses l=";
          if (!l_fail) l_fail = std::move(r);
          continue;
        }
        if (aligned && !aligned(r.domain)) {
          r.status = DkimResult::Status::fail;
          r.reason = unaligned_reason(r.domain);
          if (!l_fail) l_fail = std::move(r);
          continue;
        }
        r.status = DkimResult::Status::pass;
        return r;
      }
      if (e.result == "none") continue;
      r.reason = "dkim=" + e.result + " according to " + ar->authserv_id + (e.reason.empty() ? "" : ": " + e.reason);
      if (e.result == "temperror") {
        r.status = DkimResult::Status::temperror;
        if (!temperror) temperror = std::move(r);
      } else {
        r.status = DkimResult::Status::fail;  // fail, neutral, policy, permerror
        if (!fail) fail = std::move(r);
      }
    }
  }
  if (!trusted_seen) return std::nullopt;
  if (temperror) return temperror;
  if (l_fail) return l_fail;
  if (fail) return fail;
  DkimResult none;
  none.status = DkimResult::Status::none;
  none.reason = "no dkim result from a trusted authserv-id";
  for (const auto& hv : header_values)
    if (auto ar = parse_auth_results(hv))
      for (const auto& id : trusted_ids)
        if (iequals(id, ar->authserv_id)) none.verifier = ar->authserv_id;
  return none;
}

}  // namespace tlsrpt
